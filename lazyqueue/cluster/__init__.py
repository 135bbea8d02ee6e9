"""The cluster engine: lazyqueue's queue on DBOS Transact over PostgreSQL.

Chosen with `--backend postgresql://…`, `LAZYQUEUE_BACKEND` or `[backend] url`.
Nothing here is imported unless the cluster engine is chosen; importing this
package itself loads neither DBOS, SQLAlchemy nor psycopg — `ClusterQueue` is
imported on first use.

Modules: `url` (parsing, masking), `db` (connecting, errors in one line),
`schema` (tables and migrations), `rows` (records in and out of rows),
`engine` (`ClusterQueue`, the Engine facade), `workflow` (the DBOS workflow
and its step), `runner` (one attempt of a task), `liveness` (heartbeat rows
and the lease sweep), `logs` (output in the database), `feed` (the change
feed for subscribers), `migrate` (from a local task file), `status`.
"""

from __future__ import annotations

from .errors import ClusterError, ClusterSchemaMissing, ClusterUnreachable

__all__ = ["ClusterQueue", "ClusterError", "ClusterUnreachable", "ClusterSchemaMissing"]


def __getattr__(name: str):
    if name == "ClusterQueue":
        from .engine import ClusterQueue

        return ClusterQueue
    raise AttributeError(f"module 'lazyqueue.cluster' has no attribute {name!r}")
