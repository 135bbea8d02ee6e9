"""What `POST /tasks` accepts, checked field by field, and what the API answers about a task."""

from __future__ import annotations

from ..core.models import parse_id, task_ref


class BadRequest(Exception):
    """A request the API refuses (400 unless `status` says otherwise), in one line."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# request field -> (TaskSpec option, check)
def _text(name, value):
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string (got {value!r})")
    return value


def _whole(name, value, low=None, high=None):
    if not isinstance(value, int) or isinstance(value, bool) or (low is not None and value < low) or (high is not None and value > high):
        span = f"{low}..{high}" if high is not None else f"≥ {low}"
        raise BadRequest(f"{name} must be a whole number {span} (got {value!r})")
    return value


def _seconds(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1e9:
        raise BadRequest(f"{name} must be a number of seconds ≥ 0 (got {value!r})")
    return float(value)


def _ids(name, value):
    if not isinstance(value, list):
        value = [value]
    out = []
    for item in value:
        try:
            out.append(parse_id(item))
        except ValueError:
            raise BadRequest(f"{name} takes task ids like 12 or \"t12\" (got {item!r})") from None
    return out


def _job(name, value):
    try:
        return parse_id(value, prefix="#")
    except ValueError:
        raise BadRequest(f"{name} takes a job id like 14 or \"#014\" (got {value!r})") from None


CREATE_FIELDS = {
    "title": ("title", _text),
    "priority": ("priority", lambda n, v: _whole(n, v, 1, 10)),
    "dedupe_key": ("dedupe_key", _text),
    "after": ("after", _ids),
    "delay_s": ("delay", _seconds),
    "expires_s": ("expires", _seconds),
    "max_attempts": ("max_attempts", lambda n, v: _whole(n, v, 1)),
    "timeout_s": ("timeout", _seconds),
    "job_id": ("job", _job),
    "label": ("label", _text),
}


def create_spec(body) -> tuple[str, dict, dict]:
    """(kind, payload, TaskSpec options) from a `POST /tasks` body; BadRequest names the field."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object like {\"kind\": \"shell\", \"payload\": {\"argv\": [\"true\"]}}")
    unknown = [k for k in body if k not in CREATE_FIELDS and k not in ("kind", "payload")]
    if unknown:
        known = ", ".join(["kind", "payload", *CREATE_FIELDS])
        raise BadRequest(f"unknown field {unknown[0]!r} (expected one of: {known})")
    kind = body.get("kind")
    if kind is None:
        raise BadRequest("kind is required (see GET /kinds)")
    _text("kind", kind)
    payload = body.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise BadRequest(f"payload must be an object of fields (got {payload!r})")
    options = {}
    for name, (option, check) in CREATE_FIELDS.items():
        if body.get(name) is not None:
            options[option] = check(name, body[name])
    return kind, payload, options


REMOTE_STATE = {
    "queued": "queued", "running": "running", "completed": "ready",
    "failed": "failed", "expired": "expired", "cancelled": "cancelled",
}


def remote_status(task, position: int | None) -> dict:
    """A task in the remote-job protocol the `track` kind reads."""
    result = task.result if isinstance(task.result, dict) else {}
    return {
        "state": REMOTE_STATE.get(task.status, "running"),
        "progress": 100 if task.status == "completed" else task.progress,
        "queue_position": position if task.status == "queued" else None,
        "download_url": result.get("download_url"),
        "expires_at": result.get("expires_at"),
        "error": task.error if task.status in ("failed", "expired", "cancelled") else None,
        "request_id": task_ref(task.id),
        "result": task.result,
        "status": task.status,
    }
