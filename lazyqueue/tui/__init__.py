"""The lazyqueue TUI (Textual). The core never imports this package."""

from __future__ import annotations


def run(queue) -> int:
    """Open the TUI on an open Queue, starting its worker; returns the exit code."""
    from .app import run as _run

    return _run(queue)


def run_demo() -> int:
    """Open the TUI on a throw-away demo queue."""
    from .app import run_demo as _run_demo

    return _run_demo()


__all__ = ["run", "run_demo"]
