"""Task and Job records, statuses and their JSON form.

The field names here are a contract (see the README's "Task record"):
scripts read them from `ls --json`, so none may change meaning.
"""

from __future__ import annotations

import operator
import time

from .record import Record
TYPE_CHECKING = False  # typing is not imported at run time: `lazyqueue add` starts faster
if TYPE_CHECKING:
    from typing import Any

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
EXPIRED = "expired"

STATUSES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, EXPIRED)
ACTIVE = frozenset({QUEUED, RUNNING})
FINISHED = frozenset({COMPLETED, FAILED, CANCELLED, EXPIRED})
RETRYABLE_STATUSES = frozenset({FAILED, CANCELLED, EXPIRED})

ERROR_KINDS = ("retryable", "fatal", "user")

# how a status reads beside its word, everywhere (never colour alone)
STATUS_SYMBOL = {
    QUEUED: "○",
    RUNNING: "▶",
    COMPLETED: "✓",
    FAILED: "✗",
    CANCELLED: "⊘",
    EXPIRED: "⌛",
}

PRIORITY_MIN, PRIORITY_MAX, PRIORITY_DEFAULT = 1, 10, 5


def iso(ts: float | None = None) -> str:
    """A fixed-width ISO-8601 UTC string; fixed width keeps string order = time order."""
    global _iso_last
    if ts is None:
        ts = time.time()
    else:
        last = _iso_last
        if last[0] == ts:  # a pass stamps its `now` several times (claim, finish, the due scan)
            return last[1]
    secs, ms = divmod(int(ts * 1000), 1000)
    # a pass stamps a few seconds in turn (now, now + lease): their text is kept in a small memo
    text = _iso_seconds.get(secs)
    if text is None:
        if len(_iso_seconds) >= 4:
            _iso_seconds.clear()
        text = _iso_seconds[secs] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    text = f"{text}.{ms:03d}Z"
    _iso_last = (ts, text)  # one tuple, swapped whole: another thread reads an old pair or a new one, never a mix
    return text


_iso_seconds: dict[int, str] = {}
_iso_last: tuple = (None, "")


def _iso_ok(value: str) -> bool:
    """True for a time this lazyqueue can read (fast for the fixed-width form `iso()` writes)."""
    if len(value) == 24 and value[4] == "-" and value[10] == "T" and value[19] == "." and value[23] == "Z" \
            and value[:4].isdigit() and value[5:7].isdigit() and value[8:10].isdigit() and value[11:13].isdigit() \
            and "01" <= value[5:7] <= "12" and "01" <= value[8:10] <= "28" and value[11:13] <= "23" \
            and value[14:16].isdigit() and value[17:19].isdigit() and value[14:16] <= "59" and value[17:19] <= "60":
        return True
    try:
        parse_iso(value)
    except (ValueError, TypeError, OverflowError, OSError):
        return False
    return True


def parse_iso(value: str | None) -> float | None:
    """Seconds since the epoch for an ISO-8601 string (any offset), or None."""
    if not value:
        return None
    from datetime import datetime, timezone  # only here: `lazyqueue add` never parses a time

    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def normalise_iso(value: Any) -> str | None:
    """Re-emit any ISO time in lazyqueue's fixed-width UTC form."""
    if value is None:
        return None
    stamp = parse_iso(str(value))
    return iso(stamp) if stamp is not None else None


def task_ref(task_id: int) -> str:
    """How a task id reads to a person: t12."""
    return f"t{task_id}"


def job_ref(job_id: int) -> str:
    """How a job id reads to a person: #014."""
    return f"#{job_id:03d}"


def parse_id(text: Any, prefix: str = "t") -> int:
    """Accept 12, "12", "t12" (or "#12" for jobs); raise ValueError otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"not an id: {text!r}")
    if isinstance(text, int):
        value = text
    else:
        raw = str(text).strip()
        for p in (prefix, prefix.upper(), "#"):
            if raw.startswith(p):
                raw = raw[len(p):]
                break
        if not raw.isdigit():
            raise ValueError(f"not an id: {text!r}")
        value = int(raw)
    if value < 1:
        raise ValueError(f"not an id: {text!r}")
    return value


class Task:
    """One unit of background work (the JSON record's fields, in order)."""

    __slots__ = (
        "id",
        "kind",
        "status",
        "job_id",
        "label",
        "priority",
        "dedupe_key",
        "payload",
        "result",
        "error",
        "error_kind",
        "attempt",
        "max_attempts",
        "progress",
        "progress_label",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
        "not_before",
        "expires_at",
        "timeout_s",
        "after",
        "owner",
        "meta",
        "cancel_requested",
    )

    def __init__(
        self,
        id,
        kind,
        status=QUEUED,
        job_id=None,
        label="",
        priority=PRIORITY_DEFAULT,
        dedupe_key=None,
        payload=None,
        result=None,
        error=None,
        error_kind=None,
        attempt=0,
        max_attempts=1,
        progress=None,
        progress_label=None,
        created_at="",
        updated_at="",
        started_at=None,
        finished_at=None,
        not_before=None,
        expires_at=None,
        timeout_s=None,
        after=None,
        owner=None,
        meta=None,
        cancel_requested=False,
    ):
        self.id = id
        self.kind = kind
        self.status = status
        self.job_id = job_id
        self.label = label
        self.priority = priority
        self.dedupe_key = dedupe_key
        self.payload = {} if payload is None else payload
        self.result = result
        self.error = error
        self.error_kind = error_kind
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.progress = progress
        self.progress_label = progress_label
        self.created_at = created_at
        self.updated_at = updated_at
        self.started_at = started_at
        self.finished_at = finished_at
        self.not_before = not_before
        self.expires_at = expires_at
        self.timeout_s = timeout_s
        self.after = [] if after is None else after
        self.owner = owner
        self.meta = {} if meta is None else meta
        self.cancel_requested = cancel_requested

    def __repr__(self) -> str:
        return f"Task(id={self.id!r}, kind={self.kind!r}, status={self.status!r}, label={self.label!r})"

    def __eq__(self, other) -> bool:
        if type(other) is not Task:
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def ref(self) -> str:
        return task_ref(self.id)

    def to_dict(self) -> dict:
        return dict(zip(TASK_FIELDS, _task_values(self)))

    @classmethod
    def from_dict(cls, data: dict) -> "Task":
        """Build a task from its JSON form; raise ValueError on a malformed record."""
        if not isinstance(data, dict):
            raise ValueError("a task record must be an object")
        if not isinstance(data.get("id"), int) or isinstance(data.get("id"), bool):
            raise ValueError(f"task record has no integer id: {data.get('id')!r}")
        if not isinstance(data.get("kind"), str):
            raise ValueError(f"task {data['id']} has no kind")
        if data.get("status", QUEUED) not in STATUSES:
            raise ValueError(f"task {data['id']} has unknown status {data.get('status')!r}")
        try:
            task = cls(**data)  # the common case: exactly our fields
        except TypeError:  # fields a newer lazyqueue added: keep what we know
            task = cls(**{k: v for k, v in data.items() if k in _TASK_FIELD_SET})
        if not isinstance(task.payload, dict):
            raise ValueError(f"task {task.id} payload must be an object")
        if not isinstance(task.after, list) or not all(
            isinstance(a, int) and not isinstance(a, bool) for a in task.after
        ):
            raise ValueError(f"task {task.id} 'after' must be a list of task ids")
        if not isinstance(task.priority, int) or isinstance(task.priority, bool):
            raise ValueError(f"task {task.id} priority must be an integer")
        for name, types, nullable in _FIELD_TYPES:
            value = getattr(task, name)
            if value is None:
                if nullable:
                    continue
            elif type(value) in types:  # fast path; bool is never in `types`
                continue
            if not isinstance(value, types) or isinstance(value, bool):
                raise ValueError(f"task {task.id} {name} has the wrong type: {value!r}")
        seen = _TIMES_SEEN
        for name in _TIME_FIELDS:
            value = getattr(task, name)
            if value is None or value in seen:
                continue
            if not _iso_ok(value):
                raise ValueError(f"task {task.id} {name} is not a time: {value!r}")
            if len(seen) >= 4096:  # tasks made together share their times: a small memo of good ones
                seen.clear()
            seen.add(value)
        if not isinstance(task.meta, dict):
            task.meta = {}
        return task

    def copy(self) -> "Task":
        """An independent copy (its containers copied one level deep), cheap enough per event.

        The fields come out in one C call and go in through __init__ (4× faster
        than a loop of setattr; a worker makes several copies per task).
        """
        clone = Task(*_task_values(self))
        # the fields a record may hold a dict or list in (_CONTAINER_FIELDS), by name: no getattr/setattr calls
        clone.payload = _own(clone.payload)
        clone.result = _own(clone.result)
        clone.after = _own(clone.after)
        clone.owner = _own(clone.owner)
        clone.meta = _own(clone.meta)
        return clone


class Job:
    """The record a person cares about; tasks hang off it."""

    __slots__ = ("id", "title", "stage", "created_at", "updated_at", "meta")

    def __init__(self, id, title="", stage="Pending", created_at="", updated_at="", meta=None):
        self.id = id
        self.title = title
        self.stage = stage
        self.created_at = created_at
        self.updated_at = updated_at
        self.meta = {} if meta is None else meta

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, title={self.title!r}, stage={self.stage!r})"

    def __eq__(self, other) -> bool:
        if type(other) is not Job:
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None

    @property
    def ref(self) -> str:
        return job_ref(self.id)

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "stage": self.stage, "created_at": self.created_at,
                "updated_at": self.updated_at, "meta": self.meta}

    def copy(self) -> "Job":
        """An independent copy (its meta copied one level deep)."""
        return Job(self.id, self.title, self.stage, self.created_at, self.updated_at, dict(self.meta))

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        if not isinstance(data, dict):
            raise ValueError("a job record must be an object")
        if not isinstance(data.get("id"), int) or isinstance(data.get("id"), bool):
            raise ValueError(f"job record has no integer id: {data.get('id')!r}")
        job = cls(**{k: v for k, v in data.items() if k in JOB_FIELDS})
        if not isinstance(job.meta, dict):
            job.meta = {}
        return job


def _own(value):
    """A container one level deep, copied (anything else as it is)."""
    kind = type(value)
    return dict(value) if kind is dict else list(value) if kind is list else value


TASK_FIELDS = Task.__slots__
_task_values = operator.attrgetter(*TASK_FIELDS)  # in __init__'s order (a test holds the two together)
_CONTAINER_FIELDS = ("payload", "result", "after", "owner", "meta")  # the fields a record may hold a dict or list in
_TASK_FIELD_SET = frozenset(TASK_FIELDS)

# (field, accepted types, may be null): a record failing these would break the worker later
_FIELD_TYPES = (
    ("attempt", (int,), False),
    ("max_attempts", (int,), False),
    ("job_id", (int,), True),
    ("progress", (int, float), True),
    ("timeout_s", (int, float), True),
    ("label", (str,), False),
    ("dedupe_key", (str,), True),
    ("error", (str,), True),
    ("error_kind", (str,), True),
    ("progress_label", (str,), True),
    ("created_at", (str,), False),
    ("updated_at", (str,), False),
    ("started_at", (str,), True),
    ("finished_at", (str,), True),
    ("not_before", (str,), True),
    ("expires_at", (str,), True),
    ("owner", (dict,), True),
)
JOB_FIELDS = Job.__slots__
# times a worker or a reader parses: a record holding one that does not parse is damage, found on load
_TIMES_SEEN: set = set()  # times from_dict found readable (a memo: a load checks each distinct time once)
_TIME_FIELDS = ("created_at", "updated_at", "started_at", "finished_at", "not_before", "expires_at")


class RetentionPolicy(Record):
    """Finished tasks beyond the newest `keep` or older than `max_age_days` are archived (their logs removed)."""

    keep: int = 1000
    max_age_days: float = 30.0
    keep_logs: bool = False  # an archived task's log is removed with it unless this is set
    archive_max_mb: float = 64.0  # past this, the archive's oldest entries are dropped (0: never)


class PruneReport(Record):
    """What applying the retention policy removed from the live file and the state directory."""

    tasks: int = 0  # finished tasks moved to the archive
    logs: int = 0  # log files removed (of tasks no longer live)
    log_bytes: int = 0
    archive_dropped: int = 0  # archived entries dropped to keep the archive under its size
    archive_bytes: int = 0
