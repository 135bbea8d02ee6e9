"""The cluster engine's errors: importable classes, so a pickled one unpickles anywhere."""

from __future__ import annotations

from ..core.errors import LazyQueueError


class ClusterError(LazyQueueError):
    """The cluster backend cannot be used as asked (told in one line, exit 1)."""


class ClusterUnreachable(ClusterError):
    """The PostgreSQL server does not answer, or refuses us."""


class ClusterSchemaMissing(ClusterError):
    """The database has no lazyqueue schema yet (or an older one): run `cluster init`."""


class TaskGone(Exception):
    """Raised inside a step when the task was deleted or taken over meanwhile."""
