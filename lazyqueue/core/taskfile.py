"""The task file: a snapshot plus an append-only journal, under one lock.

Layout in the state directory:
  tasks.json     snapshot. Valid JSON; written one record per line so the
                 first line alone is a header (version, next ids, the active
                 dedupe keys) that `lazyqueue add` reads without parsing
                 10,000 task records.
  tasks.journal  one JSON object per line, each one durable mutation made
                 after the snapshot (full records, small patches, deletes),
                 then a tab and the CRC-32 of the JSON in hex; `seq` goes up
                 by one a line. A line that fails its checksum, or a gap in
                 `seq`, is damage: told, and the journal copied aside. A
                 torn last line is copied aside and cut before the next
                 append (a last line that is whole but lost its newline is
                 kept). Lines without a checksum (older files) are read too.
  tasks.idx      where each snapshot record lies and what the indexes need of
                 it (`snapindex.py`): a cache a full load reads records
                 through, parsing each only when used; ignored unless it
                 matches the snapshot's size and CRC-32.
  tasks.lock     the cross-process lock every mutation holds.
  archive.jsonl  finished tasks (and their jobs) moved out by retention.

A mutation = lock, catch up with what other processes wrote, apply, append
one fsynced journal line. When the journal grows past a threshold it is
folded into a new snapshot (temp file, fsync, rename, fsync directory).
A file that does not parse, or is of a schema version this build does not
know, is moved aside with a timestamp and never overwritten.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from pathlib import Path
TYPE_CHECKING = False  # typing is not imported at run time: `lazyqueue add` starts faster
if TYPE_CHECKING:
    from typing import Callable, Iterable

from . import head_cache
from .archive import Archive
from .encoded import Encoded, json_bytes, snapshot_bytes
from .errors import StoreError
from .filelock_posix import ProcessLock
from .journal_line import seal as _seal, unseal_line
from .models import ACTIVE, FINISHED, Job, RetentionPolicy, Task, iso
from .paths import NOFOLLOW, ensure_private_dir
from .processes import pid_alive
from .state import Change, Head, QueueState

SCHEMA_VERSION = 1
COMPACT_BYTES = 2 * 1024 * 1024  # fold the journal into the snapshot past this
LIGHT_COMPACT_BYTES = 8 * 1024 * 1024  # a head-only writer compacts only past this


_FORGOTTEN = ("memory no longer matches the file",)  # a snapshot signature no file has: read it all again


def _stat_sig(path: Path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _datasync(fd: int) -> None:
    """Make a journal append durable: its bytes and the size and blocks that reach them.

    fdatasync where there is one: the file's times are not flushed with each
    line, which an fsync would add to every journal write.
    """
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


class _Raw:
    """A record going to the archive as the snapshot's bytes (never parsed)."""

    __slots__ = ("id", "job_id", "raw")

    def __init__(self, id: int, job_id: int | None, raw: bytes) -> None:
        self.id, self.job_id, self.raw = id, job_id, raw


def _entry_tail(change: Change) -> dict:
    """What `apply_change` reads of a journal entry: the patches and deletions."""
    return {"patches": change.patches, "del_tasks": list(change.del_tasks), "del_jobs": list(change.del_jobs)}


def _merged(first: list[Change], then: Change) -> Change:
    """Staged changes and the one that follows as one change; a record `then` puts again is left out of the first."""
    again_t = {t.id if isinstance(t, Task) else t["id"] for t in then.tasks}
    again_j = {j.id if isinstance(j, Job) else j["id"] for j in then.jobs}
    out = Change()
    for change in first:
        out.tasks += [t for t in change.tasks if (t.id if isinstance(t, Task) else t["id"]) not in again_t]
        out.jobs += [j for j in change.jobs if (j.id if isinstance(j, Job) else j["id"]) not in again_j]
        out.patches += change.patches
        out.del_tasks += change.del_tasks
        out.del_jobs += change.del_jobs
    out.tasks += then.tasks
    out.jobs += then.jobs
    out.patches += then.patches
    out.del_tasks += then.del_tasks
    out.del_jobs += then.del_jobs
    return out


def aside_stamp() -> str:
    """The second a damaged or moved-aside copy is named for (`tasks.json.corrupt-20261204T210000`)."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())


def _raws(records, keys) -> dict:
    """The snapshot bytes of those records never read (none for a plain dict)."""
    return records.raws(keys) if hasattr(records, "raws") else {}


def _as_kept(records, raws: dict, key: int, job_id: int | None = None, known=None):
    """A record to archive: its snapshot bytes when it was never read (no parse, no encode) or when
    the journal line that wrote it kept them (`known(key, record)`), else the record."""
    raw = raws.get(key)
    if raw is None or b"\n" in raw:
        record = records[key]
        raw = known(key, record) if known is not None else None
        if raw is None:
            return record
    return _Raw(key, job_id, raw)


def _finished(task: Task) -> bool:
    return task.status in FINISHED


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _entry_shape_ok(entry: dict) -> bool:
    """A journal line that parses but is not shaped like one lazyqueue writes counts as damaged."""
    if not _is_id(entry.get("seq", 0)):
        return False
    for key in ("tasks", "jobs", "patches"):
        records = entry.get(key, [])
        if not isinstance(records, list) or not all(isinstance(r, dict) and _is_id(r.get("id")) for r in records):
            return False
    for key in ("del_tasks", "del_jobs"):
        ids = entry.get(key, [])
        if not isinstance(ids, list) or not all(_is_id(i) for i in ids):
            return False
    return all(_is_id(entry[key]) for key in ("next_task_id", "next_job_id") if key in entry)


def journal_entries(path: Path) -> list[dict]:
    """The entries of a journal file, checksums checked (ValueError on a damaged line)."""
    out = []
    for line in Path(path).read_bytes().split(b"\n"):
        if line.strip():
            body = unseal_line(line)
            if body is None:
                raise ValueError(f"checksum does not match: {line[:60]!r}")
            out.append(json.loads(body))
    return out


def _whole_line(tail: bytes) -> bytes | None:
    """A journal tail without its newline that is still one whole checksummed line (or None).

    Its newline may be missing or damaged into another byte; the line is answered without it.
    """
    for line in (tail, tail[:-1]):
        if len(line) > 9 and line[-9:-8] == b"\t":  # no checksum: a whole line cannot be told from a torn one
            body = unseal_line(line)
            try:
                if body is not None and isinstance(json.loads(body), dict):
                    return line
            except ValueError:
                pass
    return None


def _header(first_line: str) -> dict:
    """The snapshot's first line (version, seq, next ids, dedupe keys) as the object it opens."""
    return json.loads(first_line.rstrip().rstrip(",") + "}")


def _disk_error(exc: OSError, what: Path) -> StoreError:
    if exc.errno == errno.ENOSPC:
        return StoreError(f"disk full while writing {what}; the previous state is intact")
    return StoreError(f"could not write {what}: {exc.strerror or exc}")


# once folds have archived this many tasks since the last time, the freed memory goes back to the system:
# a queue that shrank is small again within ~20 MB, and a steady stream (every fold archiving ~1,500
# tasks, the memory reused at once) pays the full collection and the page faults after a trim once in
# several folds, not at each (~1.5% of a worker's CPU at 20,000 tasks when done at every fold)
GIVE_BACK_AFTER = 10_000


class TaskFile:
    """The task file of one state directory.

    `load()` reads everything (worker, TUI, `ls`); `head()` reads only what an
    append needs (`add`). All mutations go through `commit()` under `lock`.
    `warnings` collects one-line messages for the user (a file moved aside).
    """

    def __init__(self, home: Path, retention: RetentionPolicy | None = None, state: QueueState | None = None):
        self.warnings: list[str] = []
        self.home = ensure_private_dir(Path(home), self.warnings)
        self.path = self.home / "tasks.json"
        self.journal_path = self.home / "tasks.journal"
        self.archive_path = self.home / "archive.jsonl"
        self.archive = Archive(self.home)
        self.logs_dir = self.home / "logs"
        self.logs_removed = (0, 0)  # logs of archived tasks the last compact removed: count, bytes
        self._archived_unreturned = 0  # tasks archived since memory was last given back (GIVE_BACK_AFTER)
        self._encoded = Encoded()  # the snapshot bytes of records the journal carries, for the next fold
        self.lock = ProcessLock(self.home / "tasks.lock")
        self.lock.on_release = self._sync_pending
        self.before_sync = None  # called before this process's fsync of a write (a worker lets held handlers go)
        self._tls = threading.local()
        self.retention = retention or RetentionPolicy()
        self.state = state if state is not None else QueueState()
        self.seq = 0
        self.loaded = False  # every record is in `state` (else only its head)
        self._fold_damaged = False  # a damaged journal line was read (and copied aside)
        self._seq_unknown = False  # the snapshot was salvaged: the journal's first seq cannot be judged
        self._last_aside: Path | None = None
        self._snap_sig = None
        self._journal_offset = 0
        self._journal_lines = 0
        self._staged: list[Change] = []  # applied to memory, written by the next commit (see stage())
        self._staged_lost: BaseException | None = None  # why staged changes were never written
        self._jfd: int | None = None  # the journal, kept open for appends while it is the file the path names
        self._jfd_id: tuple | None = None  # its (st_dev, st_ino)
        self._jfds_retired: list[int] = []  # earlier ones (a thread may still be fsyncing one): closed by close()
        self._journal_seen: tuple | None = None  # (lock generation, st_dev, st_ino): the journal a sync found read to its end
        self._light_records: dict[int, dict] = {}
        self._resumed = False  # head() started from head_cache, past the journal's start
        self._unseen_tasks: set[int] = set()
        self._unseen_jobs: set[int] = set()
        self._listeners: list = []  # told of each change read from another process (see listen())
        self._loading = False  # a full read is under way: nothing read is a change to tell

    # ---------------------------------------------------------------- reading
    def load(self) -> list[int]:
        """Read the whole task file into memory; returns ids of every task."""
        with self.lock:
            self._full_load()
        return list(self.state.tasks)

    def sync(self) -> tuple[set[int], set[int]]:
        """Catch up with other processes' writes; returns (task ids, job ids) changed.

        Cheap when nothing changed: two stat calls. The ids are also kept for
        `drain_changes()`, so a worker hears of changes another caller synced.
        """
        changed_t, changed_j = self._sync()
        self._unseen_tasks |= changed_t
        self._unseen_jobs |= changed_j
        return changed_t, changed_j

    def listen(self, callback) -> "Callable[[], None]":
        """Tell `callback(prior_tasks, prior_jobs)` of each change read from another process.

        Called with the lock held, once per journal line read (so a task started
        and finished between two reads is told twice), or once for a whole
        re-read: the keys are the ids that changed, the values the records as
        they were before (None: new); `state` holds them as they are now.
        Returns a function that stops it.
        """
        self._listeners = self._listeners + [callback]

        def unlisten() -> None:
            self._listeners = [c for c in self._listeners if c is not callback]

        return unlisten

    def _tell(self, prior_tasks: dict, prior_jobs: dict) -> None:
        for callback in self._listeners:
            callback(prior_tasks, prior_jobs)

    def drain_changes(self) -> tuple[set[int], set[int]]:
        """Ids changed by other processes since the last drain."""
        out = (self._unseen_tasks, self._unseen_jobs)
        self._unseen_tasks, self._unseen_jobs = set(), set()
        return out

    def _sync(self) -> tuple[set[int], set[int]]:
        with self.lock:
            if not self.loaded:
                self._full_load()
                return set(self.state.tasks), set(self.state.jobs)
            sig = _stat_sig(self.path)
            if sig != self._snap_sig:
                return self._reload()
            return self._read_journal(full=True)

    def disk_signature(self) -> tuple:
        """What changes whenever any process writes: the snapshot's and the journal's identity (no lock)."""
        return _stat_sig(self.path), _stat_sig(self.journal_path)

    def _reload(self) -> tuple[set[int], set[int]]:
        """Read everything again (the snapshot was replaced); (task ids, job ids) that differ."""
        from .snapindex import changed, prior

        held_t, held_j = self.state.tasks, self.state.jobs
        self._full_load()  # new records: the ones held before are not changed in place
        changed_t = changed(held_t, self.state.tasks)
        changed_j = changed(held_j, self.state.jobs)
        if self._listeners and (changed_t or changed_j):
            self._tell({k: prior(held_t, k) for k in changed_t}, {k: prior(held_j, k) for k in changed_j})
        return changed_t, changed_j

    def has_undrained_changes(self) -> bool:
        """A read (a query, the change feed) took in other processes' changes that `drain_changes()` has not given out."""
        return bool(self._unseen_tasks or self._unseen_jobs)

    def changed_on_disk(self) -> bool:
        """True when another process wrote since we last looked (no lock, two stats)."""
        if _stat_sig(self.path) != self._snap_sig:
            return True
        try:
            size = os.stat(self.journal_path).st_size
        except FileNotFoundError:
            size = 0
        return size != self._journal_offset

    def folded(self) -> bool:
        """The snapshot holds everything: it exists and no journal line follows it. Hold the lock, after sync()."""
        return self._snap_sig is not None and self._journal_offset == 0

    def head(self) -> Head:
        """Next ids and active dedupe keys, without loading every task. Hold the lock."""
        if self.loaded:
            self.sync()
            return self.state.head
        head = self._read_header()
        if head is None:  # no header line we understand: read it all
            self._full_load()
            return self.state.head
        self.state.head = head
        self._journal_offset = 0
        self._journal_lines = 0
        saved = head_cache.load(self.home, self._snap_sig, self.journal_path)
        self._resumed = saved is not None
        if saved is not None:  # the last head-only writer's reading: only what came after it is read
            self.state.head = Head(next_task_id=saved["next_task_id"], next_job_id=saved["next_job_id"],
                                   active_keys=saved["active_keys"])
            self.seq = saved["seq"]
            self._journal_offset = saved["journal"][2]
            self._journal_lines = saved["lines"]
        self._read_journal(full=False)
        return self.state.head

    def _read_header(self) -> Head | None:
        try:
            with open(self.path, "rb") as fh:
                first = fh.readline()
        except FileNotFoundError:
            if self._set_aside_copy() is not None:
                return None  # a recovery was interrupted: the full read finishes it
            self._snap_sig = None
            self.seq = 0
            return Head()
        try:
            text = first.decode("utf-8").rstrip()
            if not text.endswith(","):
                return None
            data = json.loads(text[:-1] + "}")
            if data.get("version") != SCHEMA_VERSION:
                return None
            head = Head(
                next_task_id=int(data["next_task_id"]),
                next_job_id=int(data["next_job_id"]),
                active_keys=dict(data.get("active_keys") or {}),
            )
            self.seq = int(data.get("seq", 0))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None
        self._snap_sig = _stat_sig(self.path)
        return head

    def _full_load(self) -> None:
        self._encoded.clear()  # every record is read anew: none is an object a kept line was made from
        self._loading = True
        try:
            self._read_all()
        finally:
            self._loading = False

    def _read_all(self) -> None:
        self.state.clear()
        self.seq = 0
        self._seq_unknown = False
        if not self._load_indexed():
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                raw = None
            if raw is not None:
                self._load_snapshot(raw)
            else:
                aside = self._set_aside_copy()
                if aside is not None:
                    self._recover(aside.read_bytes(), "", aside=aside)
        self._snap_sig = _stat_sig(self.path)
        self._journal_offset = 0
        self._journal_lines = 0
        self._read_journal(full=True)
        self.state.rebuild_indexes()
        self.loaded = True

    def _load_indexed(self) -> bool:
        """Take the snapshot's records through its index (`snapindex`): parsed when first used.

        False when there is no index, it does not match the file byte for
        byte, or the header is not this build's: the caller reads the whole file.
        """
        from . import snapindex

        opened = snapindex.open_indexed(self.path)
        if opened is None:
            return False
        _source, header_line, tasks, jobs = opened
        try:
            header = _header(header_line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return False
        if not isinstance(header, dict) or header.get("version") != SCHEMA_VERSION:
            return False
        self._take_loaded(header, tasks, jobs)
        return True

    def _take_loaded(self, header: dict, tasks, jobs) -> None:
        """Hold the records of a snapshot just read, and its header's seq and next ids."""
        self.state.tasks, self.state.jobs = tasks, jobs
        self.seq = int(header.get("seq", 0))
        head = self.state.head
        head.next_task_id = int(header.get("next_task_id", 1))
        head.next_job_id = int(header.get("next_job_id", 1))
        self.state.note_loaded()

    def _load_lines(self, raw: bytes) -> bool:
        """Read a snapshot in lazyqueue's own one-record-a-line layout, a record at a time.

        Never holds every record as a dict at once (lower peak memory than one
        json.loads). Returns False for anything unexpected; the caller then
        parses the whole document, which also judges damage.
        """
        end = raw.find(b"\n")
        if end < 0 or not raw.startswith(b'{"version": '):
            return False
        try:
            raw = raw.decode("utf-8")  # once: json.loads of a str needs no encoding guess per line
            header = _header(raw[:end])
            if header.get("version") != SCHEMA_VERSION:
                return False
            tasks: dict[int, Task] = {}
            jobs: dict[int, Job] = {}
            group = None
            pos = end + 1
            finished = False
            loads = json.loads
            while pos < len(raw):
                nl = raw.find("\n", pos)
                if nl < 0:
                    nl = len(raw)
                line = raw[pos:nl]
                pos = nl + 1
                if line == '"jobs": [':
                    group = "jobs"
                elif line == '"tasks": [':
                    group = "tasks"
                elif line == "],":
                    group = None
                elif line == "]}":
                    finished = True
                    break
                elif line and group == "tasks":
                    task = Task.from_dict(loads(line[:-1] if line.endswith(",") else line))
                    tasks[task.id] = task
                elif line and group == "jobs":
                    job = Job.from_dict(loads(line[:-1] if line.endswith(",") else line))
                    jobs[job.id] = job
                elif line:
                    return False
            if not finished or raw[pos:].strip():
                return False
        except (ValueError, TypeError, KeyError, UnicodeDecodeError):
            return False
        self._take_loaded(header, tasks, jobs)
        return True

    def _load_snapshot(self, raw: bytes) -> None:
        if self._load_lines(raw):
            return
        problem = None
        data = None
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            problem = f"does not parse ({exc.__class__.__name__}: {str(exc)[:80]})"
        if problem is None and not isinstance(data, dict):
            problem = "is not a JSON object"
        if problem is None:
            version = data.get("version")
            if version != SCHEMA_VERSION:
                moved = self._move_aside(self.path, "unknown-version")
                jmoved = self._move_aside(self.journal_path, "unknown-version")
                extra = f" (journal kept at {jmoved})" if jmoved else ""
                self.warnings.append(
                    f"{self.path} has schema version {version!r}, which this lazyqueue does not know; "
                    f"moved it to {moved}{extra} and started an empty queue"
                )
                # keep ids monotonic even though the records stay aside
                self._salvage_ids(raw)
                if jmoved:
                    self._salvage_journal_ids(jmoved)
                return
            try:
                for rec in data.get("jobs") or []:
                    job = Job.from_dict(rec)
                    self.state.jobs[job.id] = job
                for rec in data.get("tasks") or []:
                    task = Task.from_dict(rec)
                    self.state.tasks[task.id] = task
                self.seq = int(data.get("seq", 0))
                self.state.head.next_task_id = int(data.get("next_task_id", 1))
                self.state.head.next_job_id = int(data.get("next_job_id", 1))
            except (ValueError, TypeError) as exc:
                problem = f"holds a malformed record ({exc})"
                self.state.tasks, self.state.jobs = {}, {}
        if problem is not None:
            self._recover(raw, problem)
            return
        self.state.note_loaded()

    def _recover(self, raw: bytes, problem: str, aside: Path | None = None) -> None:
        """Salvage a damaged snapshot and make the recovery durable before anything else writes.

        The recovered snapshot goes to a temp file first; only then is the
        damaged file moved aside and the temp renamed into place, so an
        interruption leaves either the damaged file or the recovered one (or,
        between the two renames, the set-aside copy, which the next reader
        recovers from). `aside`: the damaged file was already moved there.
        """
        self._seq_unknown = True
        recovered = self._salvage(raw)
        self._salvage_archive_ids()
        self._salvage_log_ids()
        try:
            self._write_snapshot(self.seq, move_aside=None if aside else "corrupt")
        except StoreError as exc:
            self.warnings.append(
                f"{self.path} {problem}; recovered {recovered} task(s) in memory but could not write them "
                f"({str(exc).split(';')[0]}); {self.path if aside is None else aside} is left as it was"
            )
            return
        where = aside or self._last_aside
        if aside is not None:
            self.warnings.append(f"{self.path} was missing after an interrupted recovery; recovered {recovered} task(s) from {aside}")
        else:
            self.warnings.append(f"{self.path} {problem}; moved it to {where} and recovered {recovered} task(s) from it")

    def _set_aside_copy(self) -> Path | None:
        """The newest damaged snapshot moved aside, when there is no tasks.json (an interrupted recovery)."""
        best = None
        for entry in os.scandir(self.home):
            if entry.name.startswith("tasks.json.corrupt-") and (best is None or entry.name > best.name):
                best = entry
        return Path(best.path) if best is not None else None

    def _salvage_line_ids(self, line: bytes) -> None:
        """Keep ids above a damaged journal line's, when its text still parses (never reuse an id)."""
        body = line[:-9] if len(line) > 9 and line[-9:-8] == b"\t" else line
        try:
            entry = json.loads(body)
        except ValueError:
            return
        if not isinstance(entry, dict):
            return
        head = self.state.head
        for name, group in (("next_task_id", "tasks"), ("next_job_id", "jobs")):
            values = [entry.get(name)] + [r.get("id") + 1 for r in entry.get(group) or () if isinstance(r, dict) and _is_id(r.get("id"))]
            for value in values:
                if _is_id(value) and value < 2**53:
                    setattr(head, name, max(getattr(head, name), value))

    def _salvage_log_ids(self) -> None:
        """Keep task ids above every log file (a task's log outlives a lost record)."""
        head = self.state.head
        try:
            entries = os.scandir(self.logs_dir)
        except OSError:
            return
        with entries:
            for entry in entries:
                stem = entry.name[:-4] if entry.name.endswith(".log") else ""
                if stem.isdigit():
                    head.next_task_id = max(head.next_task_id, int(stem) + 1)

    def _salvage_archive_ids(self) -> None:
        """Keep ids monotonic past archived records (the damaged file may have named none)."""
        head = self.state.head
        try:
            fh = open(self.archive_path, "rb")
        except FileNotFoundError:
            return
        with fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                    if entry.get("type") == "trimmed":  # older lines were dropped; it names the next ids
                        for name in ("next_task_id", "next_job_id"):
                            if isinstance(entry.get(name), int):
                                setattr(head, name, max(getattr(head, name), entry[name]))
                        continue
                    rid = entry["record"]["id"]
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                if not isinstance(rid, int):
                    continue
                name = "next_job_id" if entry.get("type") == "job" else "next_task_id"
                setattr(head, name, max(getattr(head, name), rid + 1))

    def _salvage_journal_ids(self, path: Path) -> None:
        """Keep ids monotonic past a journal set aside (its lines name the next ids)."""
        head = self.state.head
        for line in path.read_bytes().split(b"\n"):
            try:
                entry = json.loads(unseal_line(line) or b"")
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            for name in ("next_task_id", "next_job_id"):
                if isinstance(entry.get(name), int):
                    setattr(head, name, max(getattr(head, name), entry[name]))

    def _salvage_ids(self, raw: bytes) -> None:
        """Keep ids monotonic past a file we cannot use (its records stay aside)."""
        head = self.state.head
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict):
            for name in ("next_task_id", "next_job_id"):
                if isinstance(data.get(name), int):
                    setattr(head, name, max(getattr(head, name), data[name]))
            for group, name in (("tasks", "next_task_id"), ("jobs", "next_job_id")):
                for rec in data.get(group) or []:
                    if isinstance(rec, dict) and isinstance(rec.get("id"), int):
                        setattr(head, name, max(getattr(head, name), rec["id"] + 1))
            return
        saved_tasks, saved_jobs = self.state.tasks, self.state.jobs
        self._salvage(raw)  # line by line, then drop the records: only the ids matter
        self.state.tasks, self.state.jobs = saved_tasks, saved_jobs

    def _salvage(self, raw: bytes) -> int:
        """Recover whole records from a damaged snapshot, one line at a time."""
        count = 0
        for line in raw.decode("utf-8", "replace").split("\n"):  # not splitlines: JSON strings may hold U+2028 etc.
            line = line.strip().rstrip(",")
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                try:  # the header line is an object left open for the records
                    rec = json.loads(line + "}")
                except ValueError:
                    continue
            if not isinstance(rec, dict):
                continue
            if "version" in rec:
                if _is_id(rec.get("seq")):
                    self.seq = max(self.seq, rec["seq"])
                for name in ("next_task_id", "next_job_id"):
                    if isinstance(rec.get(name), int):
                        setattr(self.state.head, name, max(getattr(self.state.head, name), rec[name]))
                continue
            try:
                if "kind" in rec:
                    task = Task.from_dict(rec)
                    self.state.tasks[task.id] = task
                    self.state.head.note_task(rec)
                    count += 1
                elif "title" in rec or "stage" in rec:
                    job = Job.from_dict(rec)
                    self.state.jobs[job.id] = job
                    self.state.head.note_job(rec)
            except (ValueError, TypeError):
                continue
        return count

    def _move_aside(self, path: Path, why: str) -> Path | None:
        self._journal_seen = None
        if not path.exists():
            return None
        stamp = aside_stamp()
        target = path.with_name(f"{path.name}.{why}-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
        os.replace(path, target)
        _fsync_dir(self.home)
        return target

    def _read_journal(self, full: bool) -> tuple[set[int], set[int]]:
        """Apply journal lines past our offset. `full`: keep records, else head only."""
        changed_t: set[int] = set()
        changed_j: set[int] = set()
        try:
            st = os.stat(self.journal_path, follow_symlinks=False)
            if st.st_size == self._journal_offset:  # nothing new: the common case, one stat
                # and until the lock is let go only we write: the kept descriptor needs no stat of its own
                self._journal_seen = (self.lock.generation, st.st_dev, st.st_ino)
                return changed_t, changed_j
            fh = open(self.journal_path, "rb")
        except FileNotFoundError:
            self._journal_offset = 0
            return changed_t, changed_j
        with fh:
            size = os.fstat(fh.fileno()).st_size
            if size < self._journal_offset:  # truncated under us: start over
                if full and self.loaded and not self._loading:
                    return self._reload()
                self._journal_offset = 0
            if size == self._journal_offset:
                return changed_t, changed_j
            fh.seek(self._journal_offset)
            data = fh.read()
        end = data.rfind(b"\n")
        body = data[: end + 1]
        consumed = len(body)
        whole = _whole_line(data[end + 1:]) if end + 1 < len(data) else None
        if whole is not None:  # a whole line whose newline was damaged: its record counts
            body = body + whole + b"\n"
            consumed = len(data)
        if not body:
            return changed_t, changed_j  # only a torn tail so far
        bad = 0
        last = None  # seq of the previous line read: seqs follow on one by one
        for line in body.split(b"\n"):  # \n only: a record's text may hold other line breaks
            if not line.strip():
                continue
            try:
                unsealed = unseal_line(line)
                if unsealed is None:
                    raise ValueError("checksum does not match")
                entry = json.loads(unsealed)
                if not isinstance(entry, dict) or not _entry_shape_ok(entry):
                    raise ValueError("not a journal entry")
            except ValueError:
                bad += 1
                self._salvage_line_ids(line)
                continue
            seq = entry.get("seq", 0)
            if seq <= self.seq:
                if last is not None and seq <= last:
                    bad += 1  # seq went back: a damaged number must not hide a line as "already folded"
                last = seq
                continue  # already folded into the snapshot
            if seq != self.seq + 1 and not self._seq_unknown:
                bad += 1  # a line is missing: damage, told and copied (this line still applies)
            self._seq_unknown = False
            last = seq
            self.seq = seq
            try:
                self._apply_entry(entry, full, changed_t, changed_j)
            except (ValueError, TypeError, KeyError, AttributeError):
                bad += 1  # a malformed record: what of the line could be applied is kept
                continue
            self._journal_lines += 1
        self._journal_offset += consumed
        if bad:
            self._fold_damaged = True  # the next write by a loaded store folds the journal: warned once
            kept = self._copy_aside(self.journal_path, "damaged")
            self.warnings.append(
                f"{bad} damaged line(s) in {self.journal_path} were skipped; a copy is at {kept}"
            )
        return changed_t, changed_j

    def _copy_aside(self, path: Path, why: str) -> Path:
        """Copy a damaged file aside under a new name; a copy already made of the same damage is reused.

        An earlier copy counts when the file still starts with it (lines were
        appended since): every read of one damaged journal does not add a copy.
        """
        data = path.read_bytes()
        prefix = f"{path.name}.{why}-"
        for entry in os.scandir(self.home):
            if entry.name.startswith(prefix) and entry.stat(follow_symlinks=False).st_size <= len(data):
                try:
                    with open(os.open(entry.path, os.O_RDONLY | NOFOLLOW), "rb") as fh:
                        if data.startswith(fh.read()):
                            return Path(entry.path)
                except OSError:
                    continue
        stamp = aside_stamp()
        target = path.with_name(f"{prefix}{stamp}")
        n = 1
        while True:
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)  # task data: private
                break
            except FileExistsError:  # two damages in one second: each gets its own copy
                n += 1
                target = path.with_name(f"{prefix}{stamp}-{n}")
        with open(fd, "wb") as fh:
            fh.write(data)
        return target

    def _apply_entry(self, entry: dict, full: bool, changed_t: set, changed_j: set) -> None:
        if "patches" in entry:
            self._encoded.patched(entry["patches"])
        if not full:
            for rec in entry.get("tasks", ()):
                self._light_records[rec["id"]] = rec
        if not (full and self._listeners and self.loaded and not self._loading):
            self.state.apply(entry, full, changed_t, changed_j, index=self.loaded)
            return
        tasks, jobs = self.state.tasks, self.state.jobs
        # records are replaced (kept as they were), patches change them in place (copied first)
        prior_t = {rec["id"]: tasks.get(rec["id"]) for rec in entry.get("tasks", ())}
        for patch in entry.get("patches", ()):
            held = tasks.get(patch["id"])
            prior_t.setdefault(patch["id"], held.copy() if held is not None else None)
        for tid in entry.get("del_tasks", ()):
            prior_t.setdefault(tid, tasks.get(tid))
        prior_j = {rec["id"]: jobs.get(rec["id"]) for rec in entry.get("jobs", ())}
        for jid in entry.get("del_jobs", ()):
            prior_j.setdefault(jid, jobs.get(jid))
        here_t, here_j = set(), set()
        self.state.apply(entry, full, here_t, here_j, index=self.loaded)
        changed_t |= here_t
        changed_j |= here_j
        if here_t or here_j:
            self._tell({k: prior_t.get(k) for k in here_t}, {k: prior_j.get(k) for k in here_j})

    def log_path(self, task_id: int) -> Path:
        """Where a task's output log lives (it may not exist yet)."""
        return self.logs_dir / f"{task_id}.log"

    def _journal_record(self, task_id: int) -> dict | None:
        """The task's last whole record in the journal past the snapshot (damaged lines skipped)."""
        snap_seq = 0
        try:
            with open(self.path, "rb") as fh:
                snap_seq = int(json.loads(fh.readline().rstrip().rstrip(b",") + b"}").get("seq", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            pass
        rec = None
        try:
            raw = self.journal_path.read_bytes()
        except OSError:
            return None
        for line in raw[: raw.rfind(b"\n") + 1].splitlines():
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict) or not _entry_shape_ok(entry) or entry.get("seq", 0) <= snap_seq:
                    continue
            except ValueError:
                continue
            for r in entry.get("tasks", ()):
                if r["id"] == task_id:
                    rec = r
            if task_id in entry.get("del_tasks", ()):
                rec = None
        return rec

    def find_light(self, task_id: int) -> Task | None:
        """One task without loading them all: the journal's copy, else its snapshot line."""
        rec = self._light_records.get(task_id)
        if rec is None and self._resumed:  # the journal before the saved offset was not read here
            from . import reader

            try:
                with reader.View(self.home) as view:
                    return view.task(task_id)
            except reader.Unreadable:  # read the journal from its start, as without the saved offset
                rec = self._journal_record(task_id)
        if rec is None:
            prefix = f'{{"id": {task_id},'.encode()
            try:
                with open(self.path, "rb") as fh:
                    in_tasks = False  # job records come first, and a job often has the same id
                    for line in fh:
                        if not in_tasks:
                            in_tasks = line.startswith(b'"tasks"')
                        elif line.startswith(prefix):
                            rec = json.loads(line.rstrip().rstrip(b","))
                            break
            except (OSError, ValueError):
                rec = None
        try:
            return Task.from_dict(rec) if rec else None
        except ValueError:
            return None

    # ---------------------------------------------------------------- writing
    def next_task_id(self) -> int:
        """Hand out a task id (hold the lock; persisted by the commit that uses it)."""
        return self.state.next_task_id()

    def next_job_id(self) -> int:
        """Hand out a job id (hold the lock; persisted by the commit that uses it)."""
        return self.state.next_job_id()

    def stage(self, change: Change) -> None:
        """Apply a change to memory now and write it with the next `commit` of this lock hold: one line.

        An enqueue stages its tasks so that its worker's pass, which claims them,
        writes both in one journal line. Call `commit_staged()` before the lock
        is let go. If that line cannot be written, memory no longer matches the
        file: it is dropped and read again (`_forget`). A head-only store commits at once.
        """
        if not change:
            return
        if not self.loaded:
            self.commit(change)
            return
        self.state.apply_change(change, _entry_tail(change), True)
        self._staged.append(change)

    def commit_staged(self) -> None:
        """Write what `stage` applied and no commit has written yet; raise if the commit that took it failed."""
        lost, self._staged_lost = self._staged_lost, None
        if lost is not None:
            raise lost
        if self._staged:
            self.commit(Change())

    def _forget(self, exc: BaseException) -> None:
        """Memory holds changes the file does not: the next sync reads the file again (as after another
        process's fold), and the enqueue that staged them is told."""
        self._staged = []
        self._staged_lost = exc if isinstance(exc, StoreError) else StoreError(f"could not write the task file: {exc}")
        self._snap_sig = _FORGOTTEN

    def commit(self, change: Change, durable: bool = True) -> None:
        """Make a change durable (one fsynced journal line), then apply it to the state.

        Call with the lock held, after `sync()`/`head()`. `durable=False` writes
        the line without its fsync: for a fact that means nothing once the
        machine has gone down (a running command's process group), the write is
        seen at once by every process, and the next fsync of the file carries it.
        Changes staged in this lock hold go first in the same line.
        """
        staged = self._staged
        own = change
        if staged:
            self._staged = []
            change = _merged(staged, change)
            durable = True
        if not change:
            return
        entry: dict = {"seq": self.seq + 1}  # its records are in the line alone (encoded once, see encoded.py)
        if change.patches:
            entry["patches"] = change.patches
        if change.del_tasks:
            entry["del_tasks"] = list(change.del_tasks)
        if change.del_jobs:
            entry["del_jobs"] = list(change.del_jobs)
        entry["next_task_id"] = self.state.head.next_task_id
        entry["next_job_id"] = self.state.head.next_job_id
        body, kept = self._encoded.line(entry, change.jobs, change.tasks, keep=self.loaded)
        line = _seal(body)
        if not self.loaded and self._journal_offset + len(line) > LIGHT_COMPACT_BYTES:
            self._fold_in(change, entry)  # (staging needs a loaded store: nothing is staged here)
            return
        try:
            self._append(line, durable)  # on failure nothing of `own` was applied
        except BaseException as exc:
            if staged:
                self._forget(exc)  # but the staged changes were: memory no longer matches the file
            raise
        self.seq = entry["seq"]
        self._journal_offset += len(line)
        self._journal_lines += 1
        if kept:
            self._encoded.keep(kept)
        if change.patches:
            self._encoded.patched(change.patches)
        # apply to memory: records we were handed become the ones held (staged ones already are)
        self.state.apply_change(own, _entry_tail(own) if staged else entry, self.loaded)
        if self.loaded and (self._journal_offset > COMPACT_BYTES or self._fold_damaged):
            self.compact()
        elif not self.loaded:
            head_cache.save(self.home, self._snap_sig, self.journal_path, self._journal_offset, self.seq,
                            self._journal_lines, self.state.head)

    def _fold_in(self, change: Change, entry: dict) -> None:
        """A head-only writer whose line would take the journal past its limit: one snapshot rewrite
        holds the change and everything before it (the records read from disk, the change's own
        objects applied as they are: a big `add --from` is not encoded, written and parsed back)."""
        try:
            self._full_load()
            self.state.apply_change(change, entry, True)
            head = self.state.head
            head.next_task_id = max(head.next_task_id, entry["next_task_id"])
            head.next_job_id = max(head.next_job_id, entry["next_job_id"])
            self.compact()
        except BaseException:
            self.state.clear()  # nothing of the change is on disk: the next read starts over
            self.loaded = False
            raise

    def _append(self, line: bytes, durable: bool = True) -> None:
        """Append one journal line now; it is fsynced as the lock is let go (unless not `durable`).

        Group commit: the fsync runs after the lock is released (before the
        caller's `with store.lock` returns, so nothing is acknowledged before it
        is durable), letting another thread or process write meanwhile.
        """
        fd, size = self._kept_journal()
        if fd is None:
            fd, size = self._open_journal()
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            os.ftruncate(fd, size)  # leave no partial line
            raise _disk_error(exc, self.journal_path) from exc
        if not durable:
            return
        if self.lock.held_by_me():
            pending = getattr(self._tls, "fds", None)
            if pending is None:
                pending = self._tls.fds = []
            pending.append(fd)
        else:
            self._tls.fds = [fd]
            self._sync_pending()

    def _kept_journal(self) -> tuple[int | None, int]:
        """The kept descriptor, when the path still names its file and that ends where our reading does
        (so on a line's end: no torn tail to look for); else (None, 0). One stat."""
        if self._jfd is None:
            return None, 0
        if self._journal_seen == (self.lock.generation, *self._jfd_id):
            return self._jfd, self._journal_offset  # seen at this hold's sync; only our lines since
        try:
            st = os.stat(self.journal_path, follow_symlinks=False)
        except FileNotFoundError:
            return None, 0
        if (st.st_dev, st.st_ino) != self._jfd_id or st.st_size != self._journal_offset:
            return None, 0
        return self._jfd, st.st_size

    def _open_journal(self) -> tuple[int, int]:
        """Open the journal for appends (it becomes the kept descriptor), ending any torn last line first."""
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | NOFOLLOW
        try:
            fd = os.open(self.journal_path, flags, 0o600)
        except OSError as exc:
            raise _disk_error(exc, self.journal_path) from exc
        try:
            st = os.fstat(fd)
            size = st.st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                content = os.pread(fd, size, 0)
                cut = content.rfind(b"\n") + 1
                whole = _whole_line(content[cut:])
                if whole is not None:  # its newline was damaged, not its record: end the line
                    self._copy_aside(self.journal_path, "newline")
                    os.ftruncate(fd, cut)
                    os.write(fd, whole + b"\n")
                    size = cut + len(whole) + 1
                else:  # a writer died mid-line (nothing was acknowledged); keep a copy, then cut it
                    self._copy_aside(self.journal_path, "torn")
                    os.ftruncate(fd, cut)
                    size = cut
        except BaseException:
            os.close(fd)
            raise
        if self._jfd is not None:
            self._jfds_retired.append(self._jfd)
        self._jfd, self._jfd_id = fd, (st.st_dev, st.st_ino)
        return fd, size

    def _sync_pending(self) -> None:
        """Make this thread's journal writes durable (called as the lock is released)."""
        fds = getattr(self._tls, "fds", None)
        if not fds:
            return
        self._tls.fds = []
        hook = self.before_sync
        if hook is not None:
            hook()  # (never raises: see Worker._let_go)
        error = None
        for fd in dict.fromkeys(reversed(fds)):  # one sync of a file makes every earlier write to it durable
            try:
                _datasync(fd)
            except OSError as exc:
                error = exc
        if error is not None:
            raise _disk_error(error, self.journal_path)

    def compact(self, retention: bool = True) -> int:
        """Fold the journal into a new snapshot; archive old finished tasks. Hold the lock.

        Returns how many tasks were archived.
        """
        self.commit_staged()
        if not self.loaded:
            self._full_load()
        archived_before = self.archive.size()
        old_tasks, old_jobs = self._archive_old() if retention else (set(), set())
        try:
            self._write_snapshot(self.seq + 1, old_tasks, old_jobs)  # on failure memory still matches the file
        except StoreError:
            if old_tasks or old_jobs:  # they stay live: the archive must not hold them twice
                self.archive.cut_back(archived_before)
            raise
        self.seq += 1
        for tid in old_tasks:
            self.state.drop_task(tid)
        for jid in old_jobs:
            self.state.jobs.pop(jid, None)
        self.logs_removed = (0, 0) if self.retention.keep_logs else self.remove_logs(old_tasks)
        if not self.state.running_ids:
            self._drop_exit_statuses()
        self._archived_unreturned += len(old_tasks)
        if self._archived_unreturned >= GIVE_BACK_AFTER:
            from .memory import give_back

            self._archived_unreturned = 0
            give_back()  # memory follows the live queue, not the largest it ever held
        # the new snapshot carries seq, so any journal line left is skipped; empty it
        try:
            fd = os.open(self.journal_path, os.O_WRONLY | NOFOLLOW)
        except FileNotFoundError:
            pass
        else:
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)
        self._journal_offset = 0
        self._journal_lines = 0
        self._fold_damaged = False
        return len(old_tasks)

    def _write_snapshot(self, seq: int | None = None, skip_tasks: set = frozenset(), skip_jobs: set = frozenset(),
                        move_aside: str | None = None) -> None:
        """Write every live record but the skipped ones as the new snapshot (atomic; fsynced)."""
        head = self.state.head
        header = {
            "version": SCHEMA_VERSION,
            "seq": self.seq if seq is None else seq,
            "next_task_id": head.next_task_id,
            "next_job_id": head.next_job_id,
            "active_keys": head.active_keys,
            "written_at": iso(),
        }
        from . import snapindex

        pieces = [json_bytes(header)[:-1] + b',\n"jobs": [\n']
        encoded = self._encoded
        job_cols = snapindex.lay_out(self.state.jobs, skip_jobs, pieces, light=False, known=encoded.job)
        pieces.append(b'\n],\n"tasks": [\n')
        task_cols = snapindex.lay_out(self.state.tasks, skip_tasks, pieces, light=True, known=encoded.task)
        pieces.append(b"\n]}\n")
        data = b"".join(pieces)
        del pieces
        self._remove_stale_temps()
        # an unpredictable name, created new (never an existing file or a planted symlink)
        tmp = self.path.with_name(f".tasks.json.tmp-{os.getpid()}-{os.urandom(6).hex()}")
        fd = -1
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
            if move_aside is not None:  # the file it replaces is kept, under a new name
                self._last_aside = self._move_aside(self.path, move_aside)
            os.replace(tmp, self.path)
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise _disk_error(exc, self.path) from exc
        _fsync_dir(self.home)
        self._snap_sig = _stat_sig(self.path)
        encoded.clear()  # the records are in the snapshot now (and those not read are let go below)
        snapindex.write(self.path, fd, data, task_cols, job_cols)
        # records never read are read from the new file from now on (the old one may be gone)
        source = snapindex.Source(fd)
        self.state.tasks = snapindex.rehome(self.state.tasks, source, task_cols, Task.from_dict, _finished)
        active = self.state.active_jobs
        self.state.jobs = snapindex.rehome(self.state.jobs, source, job_cols, Job.from_dict,
                                           lambda job: not active.get(job.id))  # a job whose work is over

    def _remove_stale_temps(self) -> None:
        """Remove snapshot temp files a killed writer left (they hold full task data). Hold the lock."""
        for entry in os.scandir(self.home):
            prefix = next((p for p in (".tasks.json.tmp-", ".tasks.idx.tmp-") if entry.name.startswith(p)), None)
            if prefix is None:
                continue
            pid = entry.name[len(prefix):].split("-")[0]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass

    def _archive_old(self) -> tuple[set[int], set[int]]:
        """Append the finished tasks retention moves out (and jobs left empty) to the archive.

        Answers their ids; they leave memory once the new snapshot is written.
        """
        from .snapindex import lights

        every = lights(self.state.tasks)  # (id, light fields): no record is parsed to judge
        finished = [(tid, light) for tid, light in every if light[0] in FINISHED]
        if not finished:
            return set(), set()
        cutoff = iso(time.time() - self.retention.max_age_days * 86400)
        finished.sort(key=lambda e: (e[1][8], e[0]), reverse=True)
        old = [e for i, e in enumerate(finished) if i >= self.retention.keep or e[1][8] < cutoff]
        if not old:
            return set(), set()
        # a task some queued task still waits on stays live, so `after` can be judged
        waited_on = {a for _tid, light in every if light[0] in ACTIVE for a in light[7] or ()}
        old = [e for e in old if e[0] not in waited_on]
        old_ids = {tid for tid, _light in old}
        live_jobs = {light[5] for tid, light in every if tid not in old_ids}
        old_jobs = {light[5] for _tid, light in old if light[5] is not None} - live_jobs
        # oldest first, so the archive's oldest lines (the first its size limit drops) are its oldest tasks
        tasks, jobs = self.state.tasks, self.state.jobs
        task_raws = _raws(tasks, [tid for tid, _light in old])
        job_raws = _raws(jobs, old_jobs)
        known_t, known_j = self._encoded.task, self._encoded.job
        self.archive_records([_as_kept(tasks, task_raws, tid, light[5], known_t) for tid, light in old[::-1]],
                             [_as_kept(jobs, job_raws, j, None, known_j) for j in sorted(old_jobs) if j in jobs],
                             reason=None)
        return old_ids, old_jobs

    def archive_records(self, tasks: list, jobs: list[Job], reason: str | None) -> None:
        """Append records to the archive, durably and whole (before they leave the live file).

        `tasks`, `jobs`: records, or `_Raw`s (a record's JSON bytes as the snapshot holds them).
        """
        if not tasks and not jobs:
            return
        stamp = iso()
        extra = {"reason": reason} if reason else {}

        def head(type_: str) -> bytes:
            return json_bytes({"type": type_, "archived_at": stamp, **extra})[:-1] + b', "record": '

        heads = {"task": head("task"), "job": head("job")}

        def line(type_: str, record) -> bytes:
            if type(record) is _Raw:
                return heads[type_] + record.raw + b"}"
            return heads[type_] + snapshot_bytes(record) + b"}"

        # a job's line follows its last task's, so trimming the oldest lines keeps a kept task's job
        last_of_job = {t.job_id: i for i, t in enumerate(tasks) if t.job_id is not None}
        by_position: dict[int, list[Job]] = {}
        for job in jobs:
            by_position.setdefault(last_of_job.get(job.id, len(tasks) - 1), []).append(job)
        lines = []
        for i, t in enumerate(tasks):
            lines.append((t.id, line("task", t)))
            lines += [(None, line("job", job)) for job in by_position.pop(i, ())]
        for left in by_position.values():  # jobs with no task of this batch
            lines += [(None, line("job", job)) for job in left]
        try:
            self.archive.append(lines)
        except OSError as exc:
            raise _disk_error(exc, self.archive_path) from exc

    def read_archive(self) -> Iterable[dict]:
        """Archived task records (newest write wins for an id); reads the whole archive."""
        seen: dict[int, dict] = {}
        for rec in self.archive.records():
            seen[rec["id"]] = rec
        return seen.values()

    def archived_task(self, task_id: int) -> dict | None:
        """One archived record, through the archive's index (one line read, not the archive)."""
        return self.archive.lookup(task_id)

    def _drop_exit_statuses(self) -> None:
        """With no task running, no exit status the gates appended is still to be read: start the file afresh."""
        from .adoption import EXITS

        try:
            os.unlink(self.logs_dir / EXITS)
        except OSError:
            pass

    def remove_logs(self, task_ids) -> tuple[int, int]:
        """Remove the logs (and exit-status files) of tasks that left the live file; answers count, bytes."""
        count = freed = 0
        logs = os.fspath(self.logs_dir)
        present = None  # for many tasks, one listing instead of a failed stat per file never made
        if len(task_ids) > 32:
            try:
                present = set(os.listdir(logs))
            except FileNotFoundError:
                return 0, 0
            except OSError:
                pass
        for tid in task_ids:
            for suffix in (".log", ".exit"):
                if present is not None and f"{tid}{suffix}" not in present:
                    continue
                path = f"{logs}/{tid}{suffix}"  # not a Path: a compaction may remove thousands
                try:
                    size = os.stat(path, follow_symlinks=False).st_size
                    os.unlink(path)
                except OSError:
                    continue
                freed += size
                count += suffix == ".log"
        return count, freed

    def prune_extras(self) -> tuple[int, int, int, int]:
        """After a retention compact (hold the lock): logs of tasks no longer live, then the archive's size.

        Answers (logs removed, their bytes, archive entries dropped, archive bytes freed).
        """
        logs = freed = 0
        if not self.retention.keep_logs:
            gone = []
            try:
                with os.scandir(self.logs_dir) as entries:
                    for entry in entries:
                        stem, _, ext = entry.name.partition(".")
                        if ext in ("log", "exit") and stem.isdigit() and int(stem) not in self.state.tasks \
                                and int(stem) < self.state.head.next_task_id:
                            gone.append(int(stem))
            except OSError:
                pass
            logs, freed = self.remove_logs(sorted(set(gone)))
        dropped = archive_freed = 0
        if self.retention.archive_max_mb:
            head = self.state.head
            try:
                dropped, archive_freed = self.archive.trim(int(self.retention.archive_max_mb * 1024 * 1024),
                                                           head.next_task_id, head.next_job_id)
            except OSError as exc:
                raise _disk_error(exc, self.archive_path) from exc
        return logs, freed, dropped, archive_freed

    def ensure_snapshot(self) -> None:
        """Write a first snapshot when none exists (or after a file was moved aside)."""
        with self.lock:
            if not self.path.exists():
                if not self.loaded:
                    self._full_load()
                self._write_snapshot()

    def close(self) -> None:
        self.lock.close()
        for fd in [self._jfd, *self._jfds_retired]:
            if fd is not None:
                os.close(fd)
        self._jfd, self._jfd_id, self._jfds_retired = None, None, []

    def __del__(self) -> None:  # a task file dropped without close(): its journal descriptors go with it
        for fd in [getattr(self, "_jfd", None), *getattr(self, "_jfds_retired", ())]:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
