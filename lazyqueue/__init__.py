"""lazyqueue — a persisted local task queue with a worker, a CLI and a TUI.

    from lazyqueue import Queue
    q = Queue(home)

    @q.kind("thumbnail", concurrency=2)
    def thumbnail(ctx): ...

Names are imported on first use, so `lazyqueue add` starts fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "Queue": "local", "TaskSpec": "core.queue", "Enqueued": "core.queue",
    "Task": "core.models", "Job": "core.models",
    "Event": "core.events", "TaskContext": "core.context",
    "Kind": "core.registry", "Field": "core.registry", "Backoff": "core.registry", "Registry": "core.registry",
    "LazyQueueError": "core.errors", "UsageError": "core.errors", "ConfigError": "core.errors",
    "StoreError": "core.errors", "NotFound": "core.errors", "TaskError": "core.errors",
    "RetryableError": "core.errors", "FatalError": "core.errors", "UserInputError": "core.errors",
    "Cancelled": "core.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lazyqueue' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
