"""Errors a user or a handler can meet, each with a one-line message."""

from __future__ import annotations


class LazyQueueError(Exception):
    """A runtime problem told to the user in one line (CLI exit code 1)."""


class UsageError(LazyQueueError):
    """The user asked for something malformed (CLI exit code 2)."""


class ConfigError(LazyQueueError):
    """The config file is unreadable or holds a bad value; names file and key."""


class StoreError(LazyQueueError):
    """The task file could not be read or written."""


class NotFound(LazyQueueError):
    """No task or job has that id."""


class TaskError(Exception):
    """Raised by a handler to fail its task with a classified error."""

    error_kind = "retryable"

    def __init__(self, message: str, *, error_kind: str | None = None):
        super().__init__(message)
        if error_kind is not None:
            self.error_kind = error_kind


class RetryableError(TaskError):
    """A transient failure: retried with back-off while attempts remain."""

    error_kind = "retryable"


class FatalError(TaskError):
    """A failure retrying cannot fix: never retried automatically."""

    error_kind = "fatal"


class UserInputError(TaskError):
    """The task's own input is wrong: never retried automatically."""

    error_kind = "user"


class Cancelled(Exception):
    """Raised inside a handler (by ctx.check_cancelled) once cancel was asked."""


class Interrupted(TaskError):
    """The task's supervisor died, not the task: re-queued without spending an attempt (at most 3 times)."""

    error_kind = "retryable"



def failure_text(exc: BaseException) -> tuple[str, str]:
    """(error, error_kind) a handler's exception leaves on its task (str() may raise: the caller copes)."""
    text = str(exc)
    if isinstance(exc, TaskError):
        return text or exc.__class__.__name__, exc.error_kind
    return (f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__), "retryable"


def safe_failure_text(exc: BaseException) -> str:
    """failure_text's error, or the class name when the exception cannot say more."""
    try:
        return failure_text(exc)[0]
    except Exception:  # noqa: BLE001 - its __str__ raised
        return exc.__class__.__name__
