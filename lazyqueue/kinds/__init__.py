"""Built-in kinds."""

from __future__ import annotations

from ..core.registry import Registry


def register_builtins(registry: Registry) -> None:
    from .shell import SHELL

    registry.register(SHELL)
    try:  # network kinds (download, track)
        from .network import register as register_network
    except ImportError:
        return
    register_network(registry)
