"""Built-in kinds. `shell` is always loaded; the network kinds load on first use."""

from __future__ import annotations

from ..core.registry import Registry

NETWORK_KINDS = ("download", "track")


def _load_network(registry: Registry) -> None:
    try:
        from .network import register
    except ImportError:  # pragma: no cover - a partial install
        return
    register(registry)


def register_builtins(registry: Registry) -> None:
    from .shell import SHELL

    registry.register(SHELL)
    registry.lazy(NETWORK_KINDS, _load_network)
