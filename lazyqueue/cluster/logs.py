"""Task output in the database, so `log ID --follow` and the TUI read it from any host.

Lines are batched (every 0.25 s and before an outcome is recorded) into chunks
keyed by their byte offset; each task keeps its last LOG_LIMIT bytes there
(older chunks are dropped). The full log stays on the host that ran the task,
in its state directory: logs/ID.log.
"""

from __future__ import annotations

import threading

from .schema import SCHEMA

L = f"{SCHEMA}.logs"
LOG_LIMIT = 1024 * 1024


class LogWriter:
    def __init__(self, engine, limit: int = LOG_LIMIT):
        self.engine = engine
        self.limit = limit
        self._pending: dict[int, list[bytes]] = {}
        self._ends: dict[int, int] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def add(self, task_id: int, line: str) -> None:
        with self._lock:
            self._pending.setdefault(task_id, []).append(line.encode("utf-8", "replace"))

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, {}
            if not pending:
                return
            with self.engine.begin() as conn:
                for tid, parts in pending.items():
                    data = b"".join(parts)
                    end = self._ends.get(tid)
                    if end is None:
                        end = conn.exec_driver_sql(
                            f"SELECT coalesce(max(start_at + length(data)), 0) FROM {L} WHERE task_id = %s", (tid,)
                        ).scalar()
                    conn.exec_driver_sql(f"INSERT INTO {L} (task_id, start_at, data) VALUES (%s, %s, %s)", (tid, end, data))
                    end += len(data)
                    self._ends[tid] = end
                    if end > self.limit:
                        conn.exec_driver_sql(f"DELETE FROM {L} WHERE task_id = %s AND start_at + length(data) <= %s",
                                             (tid, end - self.limit))


def read_log(engine, task_id: int, offset: int = 0, limit: int | None = None) -> tuple[bytes, int]:
    """Bytes from `offset` (or from the oldest kept one, if those were dropped) and the next offset."""
    with engine.connect() as conn:
        if offset < 0:
            end = conn.exec_driver_sql(f"SELECT coalesce(max(start_at + length(data)), 0) FROM {L} WHERE task_id = %s",
                                       (task_id,)).scalar()
            offset = max(0, end + offset)
        rows = conn.exec_driver_sql(
            f"SELECT start_at, data FROM {L} WHERE task_id = %s AND start_at + length(data) > %s ORDER BY start_at",
            (task_id, offset),
        ).all()
    out = bytearray()
    pos = offset
    for start, data in rows:
        data = bytes(data)
        if start > pos:
            pos = start  # dropped by the bound: skip ahead
        piece = data[pos - start:]
        if limit is not None:
            piece = piece[:limit - len(out)]
        out += piece
        pos += len(piece)
        if limit is not None and len(out) >= limit:
            break
    return bytes(out), pos


def mirror(queue, task_id: int):
    """A local file with the task's log as the database holds it, appended to since the last call."""
    import os

    folder = queue.home / "cluster-logs"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{task_id}.log"
    offsets = queue.__dict__.setdefault("_mirrors", {})
    offset = offsets.get(task_id)
    if offset is None:
        offset = 0
        path.unlink(missing_ok=True)  # from an earlier process: start again
    data, offsets[task_id] = read_log(queue.engine, task_id, offset)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with open(fd, "ab") as fh:
        fh.write(data)
    return path
