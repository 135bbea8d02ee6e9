"""lazyqueue — a persisted local task queue with a worker, a CLI and a TUI.

    from lazyqueue import Queue
    q = Queue(home)

    @q.kind("thumbnail", concurrency=2)
    def thumbnail(ctx): ...
"""

from __future__ import annotations

__version__ = "0.1.0"

from .core.context import TaskContext
from .core.errors import (
    Cancelled, ConfigError, FatalError, LazyQueueError, NotFound, RetryableError, StoreError,
    TaskError, UsageError, UserInputError,
)
from .core.events import Event
from .core.models import Job, Task
from .core.queue import Enqueued, Queue, TaskSpec
from .core.registry import Backoff, Field, Kind, Registry

__all__ = [
    "Queue", "TaskSpec", "Enqueued", "Task", "Job", "Event", "TaskContext", "Kind", "Field", "Backoff",
    "Registry", "LazyQueueError", "UsageError", "ConfigError", "StoreError", "NotFound", "TaskError",
    "RetryableError", "FatalError", "UserInputError", "Cancelled", "__version__",
]
