"""Registers the network kinds, `download` and `track` (standard library only)."""

from __future__ import annotations

from ..core.registry import Registry


def register(registry: Registry) -> None:
    from .download import DOWNLOAD
    from .track import TRACK

    registry.register(DOWNLOAD)
    registry.register(TRACK)


__all__ = ["register"]
