"""The lazyqueue TUI (Textual). The core never imports this package."""

from __future__ import annotations


def run(queue) -> int:
    """Open the TUI on an open Queue, starting its worker; returns the exit code."""
    from .app import run as _run

    return _run(queue)


def run_demo(home: str | None = None, config: str | None = None) -> int:
    """Open the TUI on a demo queue: throw-away unless `home` names a state directory."""
    from .app import run_demo as _run_demo

    return _run_demo(home, config)


__all__ = ["run", "run_demo"]
