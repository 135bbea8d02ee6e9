"""Journal lines whose records are written once, in the form the snapshot holds them.

A record in a journal line is encoded as the snapshot writes it (`{"id": 1,
"kind": ...}`, json's default separators), and those bytes are kept: the
next fold copies them into the snapshot and the archive instead of encoding
the record again. Only records nothing changes in place are kept: jobs (a
change makes a new record) and finished tasks (a running task's progress is
set on the held record). The bytes of a record count only while the record
held is the very object they were made from; a patch drops them.
"""

from __future__ import annotations

import json

from .models import FINISHED, Job, Task

_dumps = json.dumps
# A lone surrogate (a handler's text, a non-UTF-8 byte of argv decoded with surrogateescape) cannot be
# UTF-8: it is written as the JSON escape `\udcff` (it sits inside a JSON string), which reads back as
# the same text. Every other character is written as it is.
TEXT_ERRORS = "backslashreplace"
_checked = json.JSONEncoder(ensure_ascii=False).encode
try:  # json's C encoder itself, made once: `encode()` builds one per call (half of a record's time)
    from json.encoder import c_make_encoder, encode_basestring

    _c_encode = c_make_encoder(None, _checked.__self__.default, encode_basestring, None, ": ", ", ",
                               False, False, True)  # no markers: a record is a tree (see _encode)
except (ImportError, TypeError):  # a Python without the C accelerator
    _c_encode = None


def _encode(record) -> str:
    """`json.dumps(record, ensure_ascii=False)`, the same text."""
    if _c_encode is None:
        return _checked(record)
    try:
        return "".join(_c_encode(record, 0))
    except RecursionError:  # a container that holds itself: the checked encoder says so (ValueError)
        return _checked(record)


def json_bytes(value, compact: bool = False) -> bytes:
    """`value` as UTF-8 JSON, json's default separators (none with `compact`); text that is not
    Unicode is written as its escape (TEXT_ERRORS). What every file lazyqueue writes holds."""
    if compact:
        return _dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", TEXT_ERRORS)
    return _encode(value).encode("utf-8", TEXT_ERRORS)


def snapshot_bytes(record) -> bytes:
    """A record (a Task, a Job or its dict) as a snapshot line holds it."""
    if isinstance(record, (Task, Job)):
        record = record.to_dict()
    return json_bytes(record)


class Encoded:
    """The bytes of records written since the last fold: {id: (record, bytes)} for tasks and for jobs."""

    __slots__ = ("tasks", "jobs")

    def __init__(self) -> None:
        self.tasks: dict[int, tuple[Task, bytes]] = {}
        self.jobs: dict[int, tuple[Job, bytes]] = {}

    def line(self, entry: dict, jobs: list, tasks: list, keep: bool) -> tuple[bytes, list]:
        """A journal entry's JSON (`entry` holds its other fields, "seq" first) with these records,
        and what to `keep()` once the line is written (nothing unless `keep`)."""
        kept: list = []
        parts = [b'{"seq":%d' % entry["seq"]]
        encode = _encode
        for name, records, cls in ((b',"jobs":[', jobs, Job), (b',"tasks":[', tasks, Task)):
            if not records:
                continue
            parts.append(name)
            for i, record in enumerate(records):
                if i:
                    parts.append(b",")
                if type(record) is cls:
                    raw = encode(record.to_dict()).encode("utf-8", TEXT_ERRORS)
                    if keep and (cls is Job or record.status in FINISHED):
                        kept.append((record, raw))
                else:
                    raw = snapshot_bytes(record)
                parts.append(raw)
            parts.append(b"]")
        for name in ("patches", "del_tasks", "del_jobs"):
            if name in entry:
                parts.append(b',"%s":%s' % (name.encode(), json_bytes(entry[name], compact=True)))
        parts.append(b',"next_task_id":%d,"next_job_id":%d}' % (entry["next_task_id"], entry["next_job_id"]))
        return b"".join(parts), kept

    def keep(self, kept: list) -> None:
        """The line `line()` made is written: its records' bytes serve the next fold."""
        tasks, jobs = self.tasks, self.jobs
        for record, raw in kept:
            (jobs if type(record) is Job else tasks)[record.id] = (record, raw)

    def patched(self, patches) -> None:
        """These tasks were changed in place: their kept bytes no longer hold them."""
        tasks = self.tasks
        for patch in patches:
            tasks.pop(patch.get("id"), None)

    def task(self, key: int, held) -> bytes | None:
        """The kept bytes of the task record `held`, or None."""
        hit = self.tasks.get(key)
        return hit[1] if hit is not None and hit[0] is held else None

    def job(self, key: int, held) -> bytes | None:
        hit = self.jobs.get(key)
        return hit[1] if hit is not None and hit[0] is held else None

    def clear(self) -> None:
        self.tasks.clear()
        self.jobs.clear()
