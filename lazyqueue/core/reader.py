"""Reading the task file without loading it: one task or job, or every task as a stream.

`show ID` needs one record and `ls --json` needs each record once; neither
needs every record in memory as an object. A View pairs an open snapshot
(`tasks.json`, one record a line) with what the journal past it changes, read
consistently without the lock: the journal is read after the snapshot is
opened, and if the snapshot was replaced in between (a fold) the view is
taken again. The old snapshot stays readable through the open file even if a
later fold renames a new one over it.

Anything this module does not expect (a header it does not know, another
layout, a damaged journal line) raises Unreadable, and the caller takes the
full load, which also reports and repairs damage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

TYPE_CHECKING = False  # typing is not imported at run time
if TYPE_CHECKING:
    from typing import Iterator

from .encoded import json_bytes
from .models import TASK_FIELDS, Job, Task
from .paths import NOFOLLOW
from .journal_line import unseal_line

SCHEMA_VERSION = 1  # the task file's; the store checks the same number
SNAPSHOT = "tasks.json"
JOURNAL = "tasks.journal"
_TASK_KEYS = list(TASK_FIELDS)
_TASK_KEY_SET = frozenset(TASK_FIELDS)


class Unreadable(Exception):
    """Not readable the cheap way; load the file instead."""


def _sig(st: os.stat_result) -> tuple:
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _record_id(line: bytes) -> int:
    """The id of a snapshot record line (`{"id": 12, ...`), without parsing the JSON."""
    if not line.startswith(b'{"id": '):
        raise Unreadable("a record line without a leading id")
    end = line.find(b",", 7)
    try:
        return int(line[7:end])
    except ValueError:
        raise Unreadable("a record line with a malformed id") from None


_HEAD = None  # compiled on first use: `re` is not imported by `lazyqueue add`


def _line_key(line: bytes) -> tuple | None:
    """(0, id) for a job line, (1, id) for a task line, None for any other line."""
    if not line.startswith(b'{"id": '):
        return None
    end = line.find(b",", 7)
    try:
        ident = int(line[7:end])
    except ValueError:
        return None
    if line.startswith(b' "kind": ', end + 1):
        return (1, ident)
    if line.startswith(b' "title": ', end + 1):
        return (0, ident)
    return None


class Changes:
    """What the journal past the snapshot does to tasks and jobs."""

    def __init__(self) -> None:
        self.tasks: dict[int, dict] = {}  # whole records that replace the snapshot's
        self.patches: dict[int, dict] = {}  # fields changed on a snapshot record
        self.gone: set[int] = set()
        self.jobs: dict[int, dict] = {}
        self.gone_jobs: set[int] = set()

    def apply(self, entry: dict) -> None:
        for rec in entry.get("jobs", ()):
            self.jobs[rec["id"]] = rec
            self.gone_jobs.discard(rec["id"])
        for rec in entry.get("tasks", ()):
            self.tasks[rec["id"]] = rec
            self.patches.pop(rec["id"], None)
            self.gone.discard(rec["id"])
        for patch in entry.get("patches", ()):
            if not _TASK_KEY_SET.issuperset(patch):
                raise Unreadable("a patch of a field tasks do not have")
            tid = patch["id"]
            if tid in self.tasks:
                self.tasks[tid] = dict(self.tasks[tid], **patch)
            elif tid not in self.gone:
                self.patches.setdefault(tid, {}).update(patch)
        for tid in entry.get("del_tasks", ()):
            self.tasks.pop(tid, None)
            self.patches.pop(tid, None)
            self.gone.add(tid)
        for jid in entry.get("del_jobs", ()):
            self.jobs.pop(jid, None)
            self.gone_jobs.add(jid)

    def touched(self) -> set[int]:
        """The tasks whose snapshot record the journal replaces, patches or removes."""
        return self.tasks.keys() | self.patches.keys() | self.gone

    def task(self, tid: int, snapshot_rec: dict | None) -> dict | None:
        """The current record of a task given its snapshot record (None: not there)."""
        if tid in self.tasks:
            return self.tasks[tid]
        if tid in self.gone or snapshot_rec is None:
            return None
        patch = self.patches.get(tid)
        return dict(snapshot_rec, **patch) if patch else snapshot_rec


def _shape_ok(entry) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("seq", 0), int):
        return False
    for key in ("tasks", "jobs", "patches"):
        recs = entry.get(key, [])
        if not isinstance(recs, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), int) for r in recs):
            return False
    for key in ("del_tasks", "del_jobs"):
        ids = entry.get(key, [])
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            return False
    return True


def _read_changes(path: Path, seq: int) -> Changes:
    changes = Changes()
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW)
    except FileNotFoundError:
        return changes
    except OSError as exc:
        raise Unreadable(str(exc)) from None
    with open(fd, "rb") as fh:
        data = fh.read()
    end = data.rfind(b"\n")  # past the last newline: a torn tail, ignored as the store does
    last = None
    for line in data[: end + 1].split(b"\n"):
        if not line.strip():
            continue
        body = unseal_line(line)  # its checksum; the full load tells the user of damage
        try:
            entry = json.loads(body if body is not None else b"")
        except ValueError:
            raise Unreadable("a damaged journal line") from None
        if not _shape_ok(entry):
            raise Unreadable("a damaged journal line")
        line_seq = entry.get("seq", 0)
        if last is not None and line_seq <= last or line_seq > seq and line_seq != seq + 1 and last is not None:
            raise Unreadable("journal seq out of order")
        last = line_seq
        if line_seq > seq:
            seq = line_seq
            changes.apply(entry)
    return changes


class View:
    """A consistent view of one state directory's live tasks and jobs. Use as a context manager."""

    def __init__(self, home: Path, tries: int = 5):
        home = self.home = Path(home)
        self._index = False  # not looked for yet
        for _ in range(tries):
            self.fh = None
            try:
                fd = os.open(home / SNAPSHOT, os.O_RDONLY | NOFOLLOW)
            except FileNotFoundError:
                fd = None
            except OSError as exc:
                raise Unreadable(str(exc)) from None
            sig = None
            self.seq = 0
            if fd is not None:
                self.fh = open(fd, "rb")
                sig = _sig(os.fstat(fd))
                self.seq = self._header()
            try:
                self.changes = _read_changes(home / JOURNAL, self.seq)
                try:
                    now = _sig(os.stat(home / SNAPSHOT))
                except FileNotFoundError:
                    now = None
            except BaseException:
                self.close()
                raise
            if now == sig:
                return
            self.close()  # folded while we read: take the view again
        raise Unreadable("the task file kept changing")

    def _header(self) -> int:
        first = self.fh.readline()
        try:
            if not first.rstrip().endswith(b","):
                raise ValueError
            head = json.loads(first.rstrip()[:-1] + b"}")
            if head.get("version") != SCHEMA_VERSION:
                raise ValueError
            return int(head.get("seq", 0))
        except (ValueError, TypeError, AttributeError):
            self.close()
            raise Unreadable("a snapshot header this lazyqueue does not read") from None

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None

    def __enter__(self) -> "View":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ snapshot lines
    def _lines(self, section: bytes) -> Iterator[bytes]:
        """The record lines of one section (b"jobs" or b"tasks"), trailing comma removed."""
        if self.fh is None:
            return
        self.fh.seek(0)
        self.fh.readline()
        group = None
        for line in self.fh:
            line = line.rstrip(b"\n")
            if line in (b'"jobs": [', b'"tasks": ['):
                group = line[1:-4]
            elif line == b"],":
                group = None
            elif line == b"]}":
                return
            elif line and group == section:
                yield line[:-1] if line.endswith(b",") else line
            elif line and group is None:
                raise Unreadable("an unexpected line in the snapshot")
        raise Unreadable("a snapshot without its end")

    def _find(self, section: bytes, ident: int) -> dict | None:
        prefix = b'{"id": %d,' % ident
        line = self._bisect(section, ident)  # the file is in id order, jobs then tasks: a few reads
        if line is not None:
            try:
                return json.loads(line)
            except ValueError:
                raise Unreadable("a damaged snapshot line") from None
        for line in self._lines(section):  # not found that way: make sure, line by line
            if line.startswith(prefix):
                try:
                    return json.loads(line)
                except ValueError:
                    raise Unreadable("a damaged snapshot line") from None
        return None

    def _bisect(self, section: bytes, ident: int) -> bytes | None:
        """The record line of `ident` found by bisecting the file on (section, id); None if not found so."""
        if self.fh is None:
            return None
        target = (1 if section == b"tasks" else 0, ident)
        fh = self.fh
        lo, hi = 0, os.fstat(fh.fileno()).st_size
        while hi - lo > 65536:  # the record starts in [lo, hi)
            mid = (lo + hi) // 2
            fh.seek(mid)
            fh.readline()  # the rest of the line mid falls in
            key = None
            while key is None:
                line = fh.readline()
                if not line:
                    break
                key = _line_key(line)
            if key is None or key >= target:
                hi = mid
            else:
                lo = mid
        fh.seek(max(lo - 1, 0))
        if lo:
            fh.readline()  # up to the newline just before lo (or the line lo falls in)
        while fh.tell() <= hi:
            line = fh.readline()
            if not line:
                return None
            key = _line_key(line)
            if key == target:
                line = line.rstrip(b"\n")
                return line[:-1] if line.endswith(b",") else line
            if key is not None and key > target:
                return None
        return None

    # ------------------------------------------------------------ through tasks.idx
    def index(self):
        """The snapshot's index (`snapindex.Index`) when it describes this very file, else None."""
        if self._index is False:
            from . import snapindex

            self._index = None if self.fh is None else snapindex.read_index(self.home / SNAPSHOT, self.fh.fileno())
        return self._index

    def _indexed_record(self, cols: dict, row: int) -> dict:
        """A snapshot record found through the index (its bytes checked by their CRC-32)."""
        from .snapindex import record_bytes

        data = record_bytes(self.fh.fileno(), cols["offset"][row], cols["length"][row], cols["crc"][row])
        if data is None:
            raise Unreadable("a snapshot record that does not match its index")
        try:
            return json.loads(data)
        except ValueError:
            raise Unreadable("a damaged snapshot line") from None

    def _journal_record(self, tid: int, span: dict) -> dict | None:
        """The current record of a task the journal touched (a patched one read through the index)."""
        from .snapindex import find_row

        ch = self.changes
        if tid in ch.tasks:
            return ch.tasks[tid]
        row = find_row(span["id"], tid) if tid in ch.patches else None
        return None if row is None else ch.task(tid, self._indexed_record(span, row))

    def columns(self, names: tuple) -> "dict | None":
        """The named light fields (`snapindex.LIGHT`) and "id" of every live task, in id order, with
        the journal applied, decoded from the index alone; None when there is no index to trust."""
        from bisect import bisect_left
        from functools import partial

        from .snapindex import LIGHT, SPAN, find_row, light_of

        index = self.index()
        if index is None:
            return None
        try:
            cols = index.columns("tasks", ("id",) + names)
        except ValueError:
            return None
        touched = self.changes.touched()
        if not touched:
            return cols
        span = index.columns("tasks", SPAN)
        ids = cols["id"]
        journal = {}
        for tid in touched:
            rec = self._journal_record(tid, span)
            if rec is not None:
                try:
                    light = light_of(Task.from_dict(rec))
                except ValueError:
                    raise Unreadable("a malformed task record") from None
                journal[tid] = [light[LIGHT.index(name)] for name in names]
        every = ("id",) + names
        if len(touched) > 64:  # many changes: one pass over the rows
            kept = [row for row, tid in enumerate(ids) if tid not in touched]
            rows = [(ids[row], *(cols[name][row] for name in names)) for row in kept]
            rows += [(tid, *values) for tid, values in journal.items()]
            rows.sort(key=lambda r: r[0])
            return {name: [r[i] for r in rows] for i, name in enumerate(every)}
        out = {name: cols[name][:] for name in every}  # a few: out of their rows, into their places (an array stays one)
        for row in sorted((r for r in map(partial(find_row, ids), touched) if r is not None), reverse=True):
            for col in out.values():
                del col[row]
        for tid in sorted(journal):
            row = bisect_left(out["id"], tid)
            for name, value in zip(every, (tid, *journal[tid])):
                try:
                    out[name].insert(row, value)
                except TypeError:  # a null into a column of machine integers
                    out[name] = list(out[name])
                    out[name].insert(row, value)
        return out

    def page(self, limit: int, status: str | None = None, kind: str | None = None,
             job: int | None = None) -> "tuple[list[dict], int] | None":
        """As tail() with those filters, found through the index: only the page's records are read."""
        from .snapindex import SPAN

        index = self.index()
        if index is None:
            return None
        names = tuple(n for n, v in (("status", status), ("kind", kind), ("job_id", job)) if v is not None)
        try:
            cols = index.columns("tasks", SPAN + names)
        except ValueError:
            return None
        touched = self.changes.touched()
        ids = cols["id"]
        wanted = [(n, v) for n, v in (("status", status), ("kind", kind), ("job_id", job)) if v is not None]
        rows = range(len(ids))
        for n, v in wanted:
            col = cols[n]
            rows = [row for row, value in enumerate(col) if value == v] if type(rows) is range else [
                row for row in rows if col[row] == v]
        rows = [row for row in rows if ids[row] not in touched] if touched else rows
        picked = [(ids[row], row) for row in rows[-limit:]] if limit else []
        seen = len(rows)
        for tid in sorted(touched):
            rec = self._journal_record(tid, cols)
            if rec is None:
                continue
            rec = _normal(rec)
            if all(rec.get(n) == v for n, v in wanted):
                picked.append((tid, rec))
                seen += 1
        picked.sort(key=lambda item: item[0])
        picked = picked[-limit:] if limit else []
        out = [_normal(self._indexed_record(cols, r)) if isinstance(r, int) else r for _tid, r in picked]
        return out, seen - len(out)

    # ------------------------------------------------------------ queries
    def task(self, task_id: int) -> Task | None:
        """One live task, or None."""
        ch = self.changes
        rec = ch.task(task_id, None if task_id in ch.tasks or task_id in ch.gone else self._find(b"tasks", task_id))
        try:
            return Task.from_dict(rec) if rec is not None else None
        except ValueError:
            raise Unreadable("a malformed task record") from None

    def job(self, job_id: int) -> Job | None:
        """One live job, or None."""
        ch = self.changes
        if job_id in ch.jobs:
            rec = ch.jobs[job_id]
        elif job_id in ch.gone_jobs:
            rec = None
        else:
            rec = self._find(b"jobs", job_id)
        try:
            return Job.from_dict(rec) if rec is not None else None
        except ValueError:
            raise Unreadable("a malformed job record") from None

    def task_lines(self) -> Iterator[tuple[dict | None, bytes | None]]:
        """Every live task, oldest id first: (its record, its JSON line when that is the record as written).

        Through a matching index a line is not parsed at all: (None, the line).

        The snapshot is checked for id order first (without parsing it), so a
        file out of order raises Unreadable before anything is yielded.
        """
        index = self.index()
        if index is not None and index.lines_as_written:
            yield from self._indexed_lines(index)
            return
        last = 0
        ids = set()
        for line in self._lines(b"tasks"):
            tid = _record_id(line)
            if tid <= last:
                raise Unreadable("snapshot records out of id order")
            last = tid
            ids.add(tid)
        ch = self.changes
        extra = sorted(tid for tid in ch.tasks if tid not in ids)  # only in the journal: merged in id order
        del ids
        at = 0
        loads = json.loads
        keys = _TASK_KEYS
        for line in self._lines(b"tasks"):
            try:
                rec = loads(line)
            except ValueError:
                raise Unreadable("a damaged snapshot line") from None
            tid = rec.get("id")
            while at < len(extra) and extra[at] < tid:
                yield _normal(ch.tasks[extra[at]]), None
                at += 1
            if tid in ch.tasks or tid in ch.gone or tid in ch.patches:
                rec = ch.task(tid, rec)
                if rec is not None:
                    yield _normal(rec), None
            elif list(rec) == keys:
                yield rec, line
            else:
                yield _normal(rec), None
        for tid in extra[at:]:
            yield _normal(ch.tasks[tid]), None


    def _indexed_lines(self, index) -> "Iterator[tuple[dict | None, bytes | None]]":
        """task_lines() of a snapshot its index vouches for: ids ascending, every line a record as
        written, so a line the journal leaves alone is copied without being parsed (record None)."""
        from .snapindex import find_row

        ch = self.changes
        touched = ch.touched()
        try:
            ids = index.column("tasks", "id")
        except ValueError:
            raise Unreadable("a damaged snapshot index") from None
        extra = sorted(tid for tid in ch.tasks if find_row(ids, tid) is None)  # only in the journal
        at = 0
        for line in self._lines(b"tasks"):
            tid = _record_id(line) if (touched or extra) else 0
            while at < len(extra) and extra[at] < tid:
                yield _normal(ch.tasks[extra[at]]), None
                at += 1
            if tid in touched:
                try:
                    rec = ch.task(tid, json.loads(line))
                except ValueError:
                    raise Unreadable("a damaged snapshot line") from None
                if rec is not None:
                    yield _normal(rec), None
            else:
                yield None, line
        for tid in extra[at:]:
            yield _normal(ch.tasks[tid]), None

    def active(self) -> list[Task]:
        """The queued and running tasks, oldest first; the others are told apart by their line's head, not parsed."""
        recs, _ = self.tail(1 << 62, want=lambda rec: rec["status"] in ("queued", "running"))
        try:
            return [Task.from_dict(rec) for rec in recs]
        except ValueError:
            raise Unreadable("a malformed task record") from None

    def tail(self, limit: int, want=None, needles: tuple[bytes, ...] = ()) -> tuple[list[dict], int]:
        """The newest `limit` live tasks that `want(rec)` accepts, oldest first, and how many older ones match.

        Only lines holding every one of `needles` (bytes each accepted record's
        JSON contains) are parsed, and without a filter only the last `limit`.
        """
        import re
        from collections import deque

        global _HEAD
        if _HEAD is None:
            _HEAD = re.compile(rb'\{"id": \d+, "kind": "([^"\\]*)", "status": "([a-z]+)", "job_id": (null|\d+), ')
        ch = self.changes
        touched = ch.touched()
        page: deque = deque(maxlen=limit)  # (id, record or raw line)
        seen = 0
        last = 0
        loads = json.loads
        for line in self._lines(b"tasks"):
            tid = _record_id(line)
            if tid <= last:
                raise Unreadable("snapshot records out of id order")
            last = tid
            if tid in touched:
                continue  # its current record comes from the journal (below), or it is gone
            if needles and not all(n in line for n in needles):
                continue
            if want is not None:
                head = _HEAD.match(line)  # id, kind, status and job_id lead a record as written
                if head is not None:
                    job = head.group(3)
                    rec = {"id": tid, "kind": head.group(1).decode(), "status": head.group(2).decode(),
                           "job_id": None if job == b"null" else int(job)}
                else:
                    try:
                        rec = loads(line)
                    except ValueError:
                        raise Unreadable("a damaged snapshot line") from None
                if not want(rec):
                    continue
            page.append((tid, line))
            seen += 1
        journal = []
        for tid in sorted(touched):
            if tid in ch.tasks:
                rec = ch.tasks[tid]
            elif tid in ch.gone:
                continue
            else:  # a patched snapshot record
                rec = ch.task(tid, self._find(b"tasks", tid))
                if rec is None:
                    continue
            if want is None or want(rec):
                journal.append((tid, rec))
        seen += len(journal)
        merged = sorted(list(page) + journal, key=lambda item: item[0])[-limit:] if journal else list(page)
        out = []
        for _tid, rec in merged:
            if isinstance(rec, bytes):
                try:
                    rec = loads(rec)
                except ValueError:
                    raise Unreadable("a damaged snapshot line") from None
            out.append(_normal(rec))
        return out, seen - len(out)


def _normal(rec: dict) -> dict:
    """A record as Task.to_dict() gives it (fields in order, defaults filled)."""
    if list(rec) == _TASK_KEYS:
        return rec
    try:
        return Task.from_dict(rec).to_dict()
    except ValueError:
        raise Unreadable("a malformed task record") from None


STREAM_BATCH = 512  # records joined, checked for terminal controls and written at once


def stream_json(view: View, out, want=None) -> int:
    """Write the live tasks as a JSON array, one record a line; how many. `want(rec)` filters.

    Terminal controls in the text are written as \\u escapes (safe_text.json_text),
    so the text goes to the stream under a SafeStream as it is.
    An Unreadable raised once output has begun carries `started = True`.
    """
    from .safe_text import json_text

    n = 0
    write = getattr(out, "raw", out).write
    lines = view.task_lines()
    first = next(lines, None)  # the layout and order check runs before anything is written
    write("[")
    batch: list[bytes] = []

    def flush() -> None:
        write(("\n  " if n == len(batch) else ",\n  ") + json_text(b",\n  ".join(batch).decode("utf-8")))
        batch.clear()

    try:
        items = lines if first is None else _chain(first, lines)
        for rec, line in items:
            if want is not None:
                if rec is None:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        raise Unreadable("a damaged snapshot line") from None
                if not want(rec):
                    continue
            batch.append(line if line is not None else json_bytes(rec))
            n += 1
            if len(batch) >= STREAM_BATCH:
                flush()
        if batch:
            flush()
    except Unreadable as exc:
        exc.started = True
        raise
    write("\n]\n" if n else "]\n")
    return n


def _chain(first, rest):
    yield first
    yield from rest
