"""tasks.idx: where each record of tasks.json lies, and what the indexes need of each task.

A worker or window reading a snapshot of 100,000 tasks need not parse them
all: it reads this index, builds its run order, start-time and expiry heaps
and counts from it, and parses a record only when it is first used
(`Records`). A fold copies records nobody read byte for byte into the new
snapshot.

The index is a cache, never the truth. It names the size and CRC-32 of the
snapshot it describes, and the file's device, inode, size and times when it
was written. A load that finds the same file (the times change with any
write) trusts it; another file (a copied state dir keeps its index) is
checked by size and CRC-32. On any mismatch or a damaged index (each column
has its own CRC-32) the snapshot is read whole as before (which also judges
damage). Each record's own CRC-32 is checked when it is read. Written after the snapshot, by whoever wrote that, under the
task file's lock; not fsynced (a lost index costs one whole read).

Layout: the line `LQIDX 2`, a JSON header line, then the columns' bytes:
  {"size": N, "crc": N, "sig": [dev, inode, size, mtime_ns, ctime_ns], "byteorder": "little",
   "fields": [the task fields, in the order each line holds them],
   "tasks": {"rows": N, "columns": {name: [start, length, crc, how, ...]}}, "jobs": {…}}
Task columns: id, offset, length, crc (SPAN), then status, priority,
not_before, expires_at, kind, job_id, dedupe_key, after, done_at (LIGHT);
job columns: SPAN. `how` is "q" (64-bit machine integers; with "nulls", NULL is null),
"codes" with its table (status, kind: a 32-bit code per record) or "json" (a
JSON list). A reader decodes only the columns it asks for: `ls` at 100,000
tasks reads six of them, not 13 JSON lists (a JSON list of 100,000 integers
takes ~20 ms to parse; its machine form, well under 1 ms).
`after` is null when empty; `done_at` is a finished task's finish time (else
its last update), what retention sorts by, and "" for an active task.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import weakref
import zlib
from array import array
from bisect import bisect_left
from pathlib import Path

from .encoded import json_bytes, snapshot_bytes
from .models import FINISHED, TASK_FIELDS, Job, Task

SPAN = ("id", "offset", "length", "crc")
LIGHT = ("status", "priority", "not_before", "expires_at", "kind", "job_id", "dedupe_key", "after", "done_at")
CHUNK = 1 << 20


def light_of(task: Task) -> tuple:
    """The fields of a task the indexes, the head and retention read, in LIGHT's order."""
    status = task.status
    return (status, task.priority, task.not_before, task.expires_at, task.kind, task.job_id, task.dedupe_key,
            task.after or None, (task.finished_at or task.updated_at or "") if status in FINISHED else "")


def lights(tasks) -> "list[tuple[int, tuple]]":
    """(id, light fields) of every task held, read or not."""
    if isinstance(tasks, Records):
        return tasks.lights()
    return [(tid, light_of(t)) for tid, t in tasks.items()]


def split(tasks, names: tuple = LIGHT) -> "tuple[dict, list[list]]":
    """(the records read, as a dict; columns: ids then `names` of the ones not read yet)."""
    if isinstance(tasks, Records):
        return tasks._held, tasks.unread_columns(names)
    return tasks, [[] for _ in range(len(names) + 1)]


def file_crc(fd: int, size: int) -> int:
    crc, pos = 0, 0
    while pos < size:
        chunk = os.pread(fd, min(CHUNK, size - pos), pos)
        if not chunk:
            break
        crc = zlib.crc32(chunk, crc)
        pos += len(chunk)
    return crc


def record_bytes(fd: int, offset: int, length: int, crc: int) -> bytes | None:
    """A record's bytes read from an open snapshot, or None when they are not what its index says."""
    data = os.pread(fd, length, offset)
    return data if len(data) == length and zlib.crc32(data) == crc else None


def find_row(ids, key: int) -> int | None:
    """The row of `key` in an ascending id column, or None."""
    row = bisect_left(ids, key)
    return row if row < len(ids) and ids[row] == key else None


class Source:
    """An open snapshot file the unread records are read from (closed when nothing holds it)."""

    def __init__(self, fd: int):
        self.fd = fd
        weakref.finalize(self, os.close, fd)

    def read(self, offset: int, length: int, crc: int) -> bytes:
        data = record_bytes(self.fd, offset, length, crc)
        if data is None:
            _changed_under_us()
        return data

    def read_rows(self, rows: list, offsets, lengths, crcs):
        """(row, bytes) for `rows` (in offset order), read in spans of about CHUNK: one pread per span."""
        i, n = 0, len(rows)
        while i < n:
            start = offsets[rows[i]]
            j, end = i, start
            while j < n and (j == i or offsets[rows[j]] + lengths[rows[j]] - start <= CHUNK):
                end = max(end, offsets[rows[j]] + lengths[rows[j]])
                j += 1
            span = os.pread(self.fd, end - start, start)
            for row in rows[i:j]:
                at = offsets[row] - start
                data = span[at:at + lengths[row]]
                if len(data) != lengths[row] or zlib.crc32(data) != crcs[row]:
                    _changed_under_us()
                yield row, data
            i = j


def _changed_under_us():
    from .errors import StoreError

    raise StoreError("tasks.json changed on disk under this process (a record no longer matches "
                     "its index); restart lazyqueue to read it again")


class Records:
    """id → Task (or Job), each parsed from the snapshot on first use.

    Behaves as the dict it stands in for: `get`, `[]`, `in`, `len`, `pop`,
    iteration in the snapshot's order then the order added. `values()` and
    `items()` read every record first. The snapshot's ids are ascending (an
    index is written only then), so a record is found by bisection; what was
    not read yet is a flag per row, not a dict entry.
    """

    __slots__ = ("_held", "_order", "_flags", "_left", "_source", "_build", "_columns", "_top")

    def __init__(self, source: Source, columns: dict, build):
        for name in ("offset", "length", "crc"):
            if not isinstance(columns[name], array):
                columns[name] = array("q", columns[name])
        self._columns = columns
        ids = columns.pop("id")
        self._order = ids if isinstance(ids, array) else array("q", ids)
        self._top = self._order[-1] if self._order else -1  # ids made since are above it: no search for them
        self._flags = bytearray(b"\x01") * len(self._order)  # 1: not read yet
        self._left = len(self._order)
        self._held: dict = {}
        self._source = source
        self._build = build

    # ------------------------------------------------------------ reading
    def _row(self, key) -> int | None:
        """The row of a record not read yet, else None."""
        if not self._left or type(key) is not int or key > self._top:
            return None
        row = find_row(self._order, key)
        return row if row is not None and self._flags[row] else None

    def _take(self, row: int) -> None:
        self._flags[row] = 0
        self._left -= 1
        if not self._left:
            self._reorder()

    def _bytes(self, row: int) -> bytes:
        c = self._columns
        return self._source.read(c["offset"][row], c["length"][row], c["crc"][row])

    def _read(self, key, row: int):
        record = self._build(json.loads(self._bytes(row)))
        if record.id != key:
            from .errors import StoreError

            raise StoreError(f"tasks.json record at byte {self._columns['offset'][row]} is not #{key} as its index says")
        self._held[key] = record
        self._take(row)
        return record

    def _reorder(self) -> None:
        """Every record is read: hold them in the snapshot's order, then the order added (as a dict would)."""
        held = self._held
        order = [k for k in self._order if k in held]
        seen = set(order)
        self._held = {k: held[k] for k in order}
        self._held.update((k, v) for k, v in held.items() if k not in seen)

    def crc_of(self, key) -> int | None:
        """The CRC-32 of an unread record's bytes (None once read or unknown)."""
        row = self._row(key)
        return None if row is None else self._columns["crc"][row]

    def raws(self, keys) -> dict:
        """The snapshot's bytes of those of `keys` never read (read in spans, not one by one)."""
        rows = sorted((row for row in map(self._row, keys) if row is not None), key=self._columns["offset"].__getitem__)
        c = self._columns
        return {self._order[row]: data for row, data in self._source.read_rows(rows, c["offset"], c["length"], c["crc"])}

    def snapshot_rows(self, light: bool):
        """(key, held record or None, bytes or None, crc, light fields) of every record, in `keys()` order.

        The bytes of records never read are read in spans (a fold of 100,000 unread tasks is
        about a hundred reads, not 100,000).
        """
        c, order, flags, held = self._columns, self._order, self._flags, self._held
        light_cols = [c[name] for name in LIGHT] if light else ()
        unread = [row for row in range(len(order)) if flags[row]]
        unread.sort(key=c["offset"].__getitem__)
        spans = self._source.read_rows(unread, c["offset"], c["length"], c["crc"]) if unread else iter(())
        pending: dict = {}
        for row in range(len(order)):
            key = order[row]
            if flags[row]:
                while row not in pending:
                    got, data = next(spans)
                    pending[got] = data
                yield key, None, pending.pop(row), c["crc"][row], tuple(col[row] for col in light_cols)
            elif key in held:
                yield key, held[key], None, None, ()
        known = set(order)
        for key, record in list(held.items()):
            if key not in known:
                yield key, record, None, None, ()

    def read_all(self) -> None:
        if self._left:
            for row in [i for i, flag in enumerate(self._flags) if flag]:
                self._read(self._order[row], row)

    def lights(self) -> list[tuple[int, tuple]]:
        ids, *columns = self.unread_columns(LIGHT)
        return [(tid, light_of(t)) for tid, t in self._held.items()] + list(zip(ids, zip(*columns)))

    def unread_columns(self, names: tuple) -> list:
        """The ids, then the named index columns, of the records not read yet (row for row)."""
        c = self._columns
        if self._left == len(self._order):  # none read: the columns as loaded
            return [self._order] + [c[name] for name in names]
        rows = [i for i, flag in enumerate(self._flags) if flag]
        return [[self._order[i] for i in rows]] + [[c[name][i] for i in rows] for name in names]

    # ------------------------------------------------------------ the dict it stands in for
    def get(self, key, default=None):
        record = self._held.get(key)
        if record is not None:
            return record
        row = self._row(key)
        return default if row is None else self._read(key, row)

    def __getitem__(self, key):
        record = self.get(key)
        if record is None:
            raise KeyError(key)
        return record

    def __setitem__(self, key, value) -> None:
        row = self._row(key)
        if row is not None:
            self._take(row)
        self._held[key] = value

    def __delitem__(self, key) -> None:
        row = self._row(key)
        if row is not None:
            self._take(row)
        else:
            del self._held[key]

    def pop(self, key, *default):
        self.get(key)
        return self._held.pop(key, *default)

    def __contains__(self, key) -> bool:
        return key in self._held or self._row(key) is not None

    def __len__(self) -> int:
        return len(self._held) + self._left

    def __bool__(self) -> bool:
        return bool(self._held) or self._left > 0

    def __iter__(self):
        return iter(self.keys()) if self._left else iter(self._held)

    def keys(self) -> list:
        if not self._left:
            return list(self._held)
        held, flags = self._held, self._flags
        snap = [k for k, flag in zip(self._order, flags) if flag or k in held]
        seen = set(self._order)
        return snap + [k for k in held if k not in seen]

    def values(self):
        self.read_all()
        return self._held.values()

    def items(self):
        self.read_all()
        return self._held.items()


def rehome(records, source: Source, cols: dict, build=None, let_go=None):
    """After a snapshot was written: `records` with the unread ones read from the new file (`cols`: its index).

    `let_go(record)` true: a held record the new file holds as it is (a finished task) is
    let go, to be read from the file when asked: the next snapshot copies its bytes
    instead of encoding it again, and memory does not grow with the history.
    """
    if not isinstance(records, Records):
        if let_go is None or not records or not ascending(cols["id"]):
            return records
        new = Records(source, cols, build)
        held = records.items()
    else:
        if not ascending(cols["id"]):  # no index was written: hold every record
            return dict(records.items())
        new = Records(source, cols, records._build)
        held = records._held.items()
    written = new._row
    for key, record in held:
        if let_go is None or not let_go(record) or written(key) is None:
            new[key] = record
    return new


# ---------------------------------------------------------------- writing
def lay_out(records, skip, pieces: list, light: bool, known=None) -> dict:
    """Append each record not in `skip` to `pieces` (bytes, ",\n" between); answer their index columns.

    A record never read is copied as the old snapshot holds it; a held one is encoded, unless
    `known(key, record)` has its bytes (a journal line wrote them so).
    """
    names = SPAN + (LIGHT if light else ())
    cols: dict = {name: [] for name in names}
    ids, offsets, lengths, crcs = (cols[name] for name in SPAN)
    light_cols = [cols[name] for name in LIGHT] if light else ()
    pos = sum(len(p) for p in pieces)
    crc32 = zlib.crc32
    if isinstance(records, Records):
        rows = records.snapshot_rows(light)
    else:
        rows = ((key, records[key], None, None, ()) for key in list(records))
    for key, record, raw, crc, fields in rows:
        if key in skip:
            continue
        if raw is None:
            raw = known(key, record) if known is not None else None
            if raw is None:
                raw = snapshot_bytes(record)
            crc = crc32(raw)
            fields = light_of(record) if light else ()
        if ids:
            pieces.append(b",\n")
            pos += 2
        ids.append(key)
        offsets.append(pos)
        lengths.append(len(raw))
        crcs.append(crc)
        pieces.append(raw)
        pos += len(raw)
        for col, value in zip(light_cols, fields):
            col.append(value)
    return cols


# ---------------------------------------------------------------- the file
MAGIC = b"LQIDX 2\n"
NULL = -(1 << 63)  # a null in an integer column
INTS = ("id", "offset", "length", "crc", "priority", "job_id")
CODED = ("status", "kind")  # few distinct strings: a table and a code per record


def index_path(snapshot: Path) -> Path:
    return snapshot.with_name("tasks.idx")


def _sig(st: os.stat_result) -> list:
    """What tells that a snapshot is the very file an index was written for, without reading it."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _encode(name: str, values) -> tuple[list, bytes]:
    """(how a column is stored, its bytes): machine integers, coded strings, or a JSON list."""
    if name in INTS:
        try:
            if None in values:
                return ["q", "nulls"], array("q", [NULL if v is None else v for v in values]).tobytes()
            return ["q"], (values if isinstance(values, array) and values.typecode == "q" else array("q", values)).tobytes()
        except (TypeError, OverflowError):
            pass
    elif name in CODED and all(type(v) is str for v in values):
        table: dict = {}
        codes = array("I", [table.setdefault(v, len(table)) for v in values])
        return ["codes", list(table)], codes.tobytes()
    return ["json"], json_bytes(list(values), compact=True)


def _decode(how: list, blob: bytes):
    if how[0] == "q":
        col = array("q")
        col.frombytes(blob)
        if how[1:] == ["nulls"]:
            return [None if v == NULL else v for v in col]
        return col
    if how[0] == "codes":
        codes = array("I")
        codes.frombytes(blob)
        table = [sys.intern(v) for v in how[1]]
        try:
            return [table[c] for c in codes]
        except IndexError:
            raise ValueError("a code past its table") from None
    col = json.loads(blob)
    if not isinstance(col, list):
        raise ValueError("not a column")
    return col


def write(snapshot: Path, fd: int, data: bytes, task_cols: dict, job_cols: dict) -> None:
    """Write the index of the snapshot just written and renamed into place (`fd` open on it, `data`
    its bytes); a temp file, renamed. Not fsynced: a failure only costs a whole read later."""
    path = index_path(snapshot)
    if not (ascending(task_cols["id"]) and ascending(job_cols["id"])):
        discard(snapshot)  # records out of id order (rare): this snapshot is read whole
        return
    blobs: list[bytes] = []
    at = 0
    groups = {}
    for group, cols in (("tasks", task_cols), ("jobs", job_cols)):
        described = {}
        for name, values in cols.items():
            how, blob = _encode(name, values)
            described[name] = [at, len(blob), zlib.crc32(blob), *how]
            blobs.append(blob)
            at += len(blob)
        groups[group] = {"rows": len(cols["id"]), "columns": described}
    body = b"".join(blobs)
    head = {"size": len(data), "crc": zlib.crc32(data), "sig": _sig(os.fstat(fd)), "byteorder": sys.byteorder,
            "fields": list(TASK_FIELDS), **groups}
    tmp = path.with_name(f".tasks.idx.tmp-{os.getpid()}")
    try:
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(b"".join([MAGIC, json_bytes(head), b"\n", body]))
            while view:
                view = view[os.write(out, view):]
        finally:
            os.close(out)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def ascending(ids) -> bool:
    return all(a < b for a, b in zip(ids, itertools.islice(ids, 1, None)))


def discard(snapshot: Path) -> None:
    try:
        os.unlink(index_path(snapshot))
    except OSError:
        pass


class Index:
    """An index that matches an open snapshot; each column is read, checked and decoded when first asked for.

    Columns are shared by whoever asks: read them, never change them.
    """

    def __init__(self, fd: int, base: int, head: dict):
        self._fd, self._base, self._head = fd, base, head
        self._decoded: dict = {}
        self.rows = {group: head[group]["rows"] for group in ("tasks", "jobs")}
        # every task line is json.dumps(Task.to_dict()) of a task with these fields, in this order
        self.lines_as_written = head.get("fields") == list(TASK_FIELDS)
        weakref.finalize(self, os.close, fd)

    def column(self, group: str, name: str):
        """One column, decoded; ValueError if its bytes are not what the header says."""
        found = self._decoded.get((group, name))
        if found is not None:
            return found
        start, length, crc, *how = self._head[group]["columns"][name]
        blob = os.pread(self._fd, length, self._base + start)
        if len(blob) != length or zlib.crc32(blob) != crc:
            raise ValueError("a damaged column")
        col = _decode(how, blob)
        if len(col) != self.rows[group]:
            raise ValueError("a column of another length")
        self._decoded[(group, name)] = col
        return col

    def columns(self, group: str, names) -> dict:
        return {name: self.column(group, name) for name in names}


_last: list = []  # [(snapshot sig, index file sig), Index]: one process asking twice reads it once


def read_index(snapshot: Path, fd: int, remember: bool = True) -> "Index | None":
    """The index of the snapshot open as `fd`, if it describes that very file (else None: read it whole).

    The file's identity and times tell without reading it; a copy (another
    inode) is checked by its size and CRC-32. `remember`: keep it (and the
    columns decoded from it) for this process's next read of the same files.
    """
    path = index_path(snapshot)
    try:
        ifd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    st = os.fstat(fd)
    key = (_sig(st), _sig(os.fstat(ifd)))
    if _last and _last[0] == key:
        os.close(ifd)
        return _last[1]
    index = _open_index(ifd, fd, st)
    if index is None:
        os.close(ifd)
        return None
    if remember:
        _last[:] = [key, index]
    return index


def _open_index(ifd: int, fd: int, st: os.stat_result) -> "Index | None":
    size = os.fstat(ifd).st_size
    want = 1 << 16
    while True:
        raw = os.pread(ifd, want, 0)
        end = raw.find(b"\n", len(MAGIC))
        if end > 0 or len(raw) >= size:
            break
        want *= 4
    if not raw.startswith(MAGIC) or end < 0:
        return None
    try:
        head = json.loads(raw[len(MAGIC):end])
        if not isinstance(head, dict) or head.get("byteorder") != sys.byteorder:
            return None
        for group, names in (("tasks", SPAN + LIGHT), ("jobs", SPAN)):
            described = head[group]["columns"]
            if not isinstance(head[group]["rows"], int) or not all(
                    isinstance(described.get(n), list) and len(described[n]) >= 4 for n in names):
                return None
    except (ValueError, KeyError, TypeError):
        return None
    if head.get("sig") != _sig(st):
        if head.get("size") != st.st_size or file_crc(fd, st.st_size) != head.get("crc"):
            return None
    return Index(ifd, end + 1, head)


def open_indexed(snapshot: Path):
    """(Source, header line, task Records, job Records) of a snapshot whose index matches it; else None."""
    try:
        fd = os.open(snapshot, os.O_RDONLY)
    except OSError:
        return None
    source = Source(fd)
    index = read_index(snapshot, fd, remember=False)  # a load holds what it needs in its Records
    if index is None:
        return None
    try:
        tasks, jobs = index.columns("tasks", SPAN + LIGHT), index.columns("jobs", SPAN)
    except ValueError:
        return None
    size = os.fstat(fd).st_size
    head = os.pread(fd, CHUNK, 0)
    while b"\n" not in head and len(head) < size:
        head = os.pread(fd, len(head) * 2, 0)
    return source, head[:head.find(b"\n")], Records(source, tasks, Task.from_dict), Records(source, jobs, Job.from_dict)


def changed(before, after) -> set:
    """Ids whose record differs between two holdings of the queue (added and removed ones too).

    Records neither side read are compared by their CRC-32, not parsed.
    """
    out = set()
    crc_a = before.crc_of if isinstance(before, Records) else None
    crc_b = after.crc_of if isinstance(after, Records) else None
    for key in set(before) | set(after):
        if crc_a is not None and crc_b is not None:
            a = crc_a(key)
            if a is not None and a == crc_b(key):
                continue
        old, new = prior(before, key), after.get(key)
        if old is None or new is None or old.to_dict() != new.to_dict():
            out.add(key)
    return out


def prior(records, key):
    """A record as an earlier holding had it; None if unknown or no longer readable (its file was overwritten in place)."""
    from .errors import StoreError

    try:
        return records.get(key)
    except (StoreError, ValueError, OSError):
        return None
