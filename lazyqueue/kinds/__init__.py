"""Built-in kinds. `shell` is always loaded; the network kinds load on first use."""

from __future__ import annotations

from ..core.registry import Registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..core.config import Config

NETWORK_KINDS = ("download", "track")


def _load_network(registry: Registry) -> None:
    try:
        from .network import register
    except ImportError:  # pragma: no cover - a partial install
        return
    register(registry)


def register_builtins(registry: Registry) -> None:
    """Register `shell` now and the network kinds (download, track) for their first use."""
    from .shell import SHELL

    registry.register(SHELL)
    registry.lazy(NETWORK_KINDS, _load_network)


def default_registry() -> Registry:
    """A registry holding the built-in kinds."""
    registry = Registry()
    register_builtins(registry)
    return registry


def wire_commands(registry: Registry, config: "Config") -> None:
    """The config's kinds: command kinds run by the shell kind's handler, and policy overrides."""
    from ..core.config import apply_config
    from .shell import command_handler

    apply_config(config, registry, command_handler)
