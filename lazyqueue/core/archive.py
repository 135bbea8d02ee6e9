"""The history archive: `archive.jsonl` (append-only lines) and its index `archive.idx`.

Retention moves old finished tasks (and jobs left empty) out of the live file
into the archive, one JSON line each. Looking up one archived id must not read
the whole archive (it grows for months): the index holds, for every task line,
the task id and the line's byte offset (two unsigned 64-bit numbers), and
after each batch a marker (id 0) saying how many archive bytes it covers. A
lookup reads the index, reads the one line it names, and checks it; lines the
index does not cover yet (a writer killed between the two appends) are read
from where the index ends; an index that does not match the archive (cut
back, replaced, damaged) is rebuilt from the archive once.

The archive is bounded too: past `max_bytes` its oldest lines are dropped
(rewritten atomically), leaving a `trimmed` line that still names the next
ids, so an id is never handed out again.

Callers hold the task file's lock for writes; lookups need no lock (both
files only grow between rewrites, and a rewrite is a rename).
"""

from __future__ import annotations

import json
import os
import struct
import sys
from array import array
from pathlib import Path

from .paths import NOFOLLOW

ENTRY = struct.Struct("<QQ")  # task id (0: a "covers up to" marker), byte offset
_SWAP = sys.byteorder != "little"  # the index is little-endian on every machine


def _pack(entries: array) -> bytes:
    if _SWAP:
        entries = array("Q", entries)
        entries.byteswap()
    return entries.tobytes()


def _unpack(raw: bytes) -> array:
    entries = array("Q")
    entries.frombytes(raw)
    if _SWAP:
        entries.byteswap()
    return entries


class ArchiveError(OSError):
    """Writing the archive or its index failed (the archive was cut back to what it held)."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]  # a short write is continued, not taken as done


def _replace(path: Path, data: bytes, durable: bool) -> None:
    """Write `data` to a new file with an unpredictable name and rename it over `path`."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
        try:
            _write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        if durable:
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Archive:
    def __init__(self, home: Path):
        self.path = Path(home) / "archive.jsonl"
        self.index_path = Path(home) / "archive.idx"

    # ---------------------------------------------------------------- writing
    def append(self, lines: list[tuple[int | None, bytes]]) -> None:
        """Append lines (task id or None, the line without its newline), durably, then index them.

        On an error the archive is cut back to what it held and OSError raised.
        """
        if not lines:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | NOFOLLOW, 0o600)
        try:
            size = os.fstat(fd).st_size
            lead = b""
            if size and os.pread(fd, 1, size - 1) != b"\n":
                lead = b"\n"  # an earlier torn line stays unreadable on its own line
            entries = array("Q")
            offset = size + len(lead)
            chunks = [lead]
            for tid, line in lines:
                if tid is not None:
                    entries.extend((tid, offset))
                chunks.append(line + b"\n")
                offset += len(line) + 1
            entries.extend((0, offset))
            try:
                _write_all(fd, b"".join(chunks))
                os.fsync(fd)
            except OSError:
                try:
                    os.ftruncate(fd, size)
                    os.fsync(fd)
                except OSError:
                    pass
                raise
        finally:
            os.close(fd)
        self._append_index(entries, size)

    def _append_index(self, entries: array, archive_size_before: int) -> None:
        """Index a batch just written; an index that does not end where the archive did is rebuilt."""
        try:
            fd = os.open(self.index_path, os.O_RDWR | os.O_CREAT | os.O_APPEND | NOFOLLOW, 0o600)
        except OSError:
            return  # the index is a cache: lookups rebuild it
        try:
            covered = self._covered(fd)
            if covered != archive_size_before:
                os.ftruncate(fd, 0)  # out of step: rebuilt on the next lookup
                return
            try:
                _write_all(fd, _pack(entries))
            except OSError:
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)

    @staticmethod
    def _covered(fd: int) -> int:
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        if size % ENTRY.size:
            return -1
        tid, offset = ENTRY.unpack(os.pread(fd, ENTRY.size, size - ENTRY.size))
        return offset if tid == 0 else -1

    def size(self) -> int:
        try:
            return os.stat(self.path, follow_symlinks=False).st_size
        except FileNotFoundError:
            return 0

    def cut_back(self, size: int) -> None:
        """Undo the lines appended past `size` (their tasks stayed live); the index follows on its next read."""
        try:
            fd = os.open(self.path, os.O_WRONLY | NOFOLLOW)
        except OSError:
            return
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    # ---------------------------------------------------------------- reading
    def lookup(self, task_id: int) -> dict | None:
        """The newest archived record of `task_id`, reading one line (None if it was never archived)."""
        try:
            size = os.stat(self.path, follow_symlinks=False).st_size
        except FileNotFoundError:
            return None
        entries = self._entries(size)  # markers (id 0) included: no task has id 0
        ids = entries[0::2]
        ids.reverse()  # newest first: a task archived twice (retried, then pruned again) answers its last line
        try:
            at = len(ids) - 1 - ids.index(task_id)
        except ValueError:
            return None
        offset = entries[2 * at + 1]
        rec = self._read_record(offset)
        if rec is not None and rec.get("id") == task_id:
            return rec
        # the index named a line that is not this task's: rebuild it and look once more
        self._rebuild()
        return self._scan_for(task_id)

    def _entries(self, archive_size: int) -> array:
        """The index's (id, offset) pairs covering the whole archive; brings the index up to date."""
        raw = b""
        try:
            with open(os.open(self.index_path, os.O_RDONLY | NOFOLLOW), "rb") as fh:
                raw = fh.read()
        except OSError:
            pass
        entries = _unpack(raw) if raw and len(raw) % ENTRY.size == 0 else array("Q")
        covered = entries[-1] if len(entries) >= 2 and entries[-2] == 0 else -1
        if covered < 0 or covered > archive_size:
            return self._rebuild()
        if covered < archive_size:  # lines written after the last index write: index them now
            tail = self._index_from(covered)
            self._append_index(tail, covered)
            entries.extend(tail)
        return entries

    def _index_from(self, start: int) -> array:
        """Index entries for the archive's lines from byte `start` on, with a closing marker."""
        entries = array("Q")
        offset = start
        try:
            with open(os.open(self.path, os.O_RDONLY | NOFOLLOW), "rb") as fh:
                fh.seek(start)
                for line in fh:
                    if line.endswith(b"\n"):
                        tid = _task_id(line)
                        if tid is not None:
                            entries.extend((tid, offset))
                        offset += len(line)
        except OSError:
            pass
        entries.extend((0, offset))
        return entries

    def _rebuild(self) -> array:
        entries = self._index_from(0)
        try:
            _replace(self.index_path, _pack(entries), durable=False)  # a cache: rebuilt again if lost
        except OSError:
            pass
        return entries

    def _read_record(self, offset: int) -> dict | None:
        try:
            with open(os.open(self.path, os.O_RDONLY | NOFOLLOW), "rb") as fh:
                fh.seek(offset)
                line = fh.readline()
        except OSError:
            return None
        return _task_record(line)

    def _scan_for(self, task_id: int) -> dict | None:
        found = None
        for rec in self.records():
            if rec["id"] == task_id:
                found = rec
        return found

    def records(self):
        """Every archived task record, oldest line first (a reader of the whole history)."""
        try:
            fh = open(os.open(self.path, os.O_RDONLY | NOFOLLOW), "rb")
        except OSError:
            return
        with fh:
            for line in fh:
                rec = _task_record(line)
                if rec is not None:
                    yield rec

    # ---------------------------------------------------------------- bounding
    def trim(self, max_bytes: int, next_task_id: int, next_job_id: int) -> tuple[int, int]:
        """Past `max_bytes`, drop the oldest lines until the archive holds at most half of it.

        Answers (task entries dropped, bytes freed). The rewrite is atomic; its
        first line names the next ids, so salvage never hands out a dropped id.
        """
        try:
            size = os.stat(self.path, follow_symlinks=False).st_size
        except FileNotFoundError:
            return 0, 0
        if max_bytes <= 0 or size <= max_bytes:
            return 0, 0
        dropped, cut = 0, 0
        with open(os.open(self.path, os.O_RDONLY | NOFOLLOW), "rb") as fh:
            for line in fh:  # the oldest lines, until what is left fits in half the budget
                if size - cut <= max_bytes // 2:
                    break
                cut += len(line)
                if _task_id(line) is not None:
                    dropped += 1
            fh.seek(cut)
            kept = fh.read()
        marker = json.dumps({"type": "trimmed", "dropped": dropped, "next_task_id": next_task_id,
                             "next_job_id": next_job_id}).encode() + b"\n"
        _replace(self.path, marker + kept, durable=True)
        self._rebuild()
        return dropped, size - len(marker) - len(kept)


def _task_record(line: bytes) -> dict | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if isinstance(entry, dict) and entry.get("type") == "task":
        rec = entry.get("record")
        if isinstance(rec, dict) and isinstance(rec.get("id"), int) and not isinstance(rec.get("id"), bool):
            return rec
    return None


def _task_id(line: bytes) -> int | None:
    """The task id of an archive line (parsing it only when it could be a task line)."""
    if b'"type": "task"' not in line:
        return None
    rec = _task_record(line)
    return rec["id"] if rec is not None and rec["id"] > 0 else None
