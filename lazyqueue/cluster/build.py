"""Turning an enqueue request into a task record: the same checks as the local engine."""

from __future__ import annotations

import time

from ..core.errors import UsageError
from ..core.models import PRIORITY_MAX, PRIORITY_MIN, Task, iso


def check_priority(priority) -> int:
    if not (isinstance(priority, int) and not isinstance(priority, bool) and PRIORITY_MIN <= priority <= PRIORITY_MAX):
        raise UsageError(f"priority must be a whole number from {PRIORITY_MIN} to {PRIORITY_MAX} (got {priority!r})")
    return priority


def build_task(registry, spec, task_id_source, now: float | None = None) -> tuple[Task, str | None]:
    """A task record for a TaskSpec (id 0 until inserted) and its dedupe key."""
    kind = registry.get(spec.kind)
    payload = spec.payload or {}
    if not isinstance(payload, dict):
        raise UsageError("payload must be a mapping of key=value")
    payload = kind.check_payload(payload)
    key = spec.dedupe_key if spec.dedupe_key is not None else kind.dedupe_key(payload)
    key = key or None
    priority = check_priority(kind.priority if spec.priority is None else spec.priority)
    attempts = kind.max_attempts if spec.max_attempts is None else spec.max_attempts
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        raise UsageError(f"max attempts must be at least 1 (got {attempts!r})")
    for value, what in ((spec.timeout, "timeout"), (spec.delay, "delay"), (spec.expires, "expires")):
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1e9):
            raise UsageError(f"{what} must be a number of seconds ≥ 0 (got {value!r})")
    for value, what in ((spec.label, "label"), (spec.title, "title"), (spec.dedupe_key, "dedupe key")):
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{what} must be text (got {value!r})")
    if spec.meta is not None and not isinstance(spec.meta, dict):
        raise UsageError(f"meta must be a mapping (got {spec.meta!r})")
    after = list(spec.after or ())
    for dep in after:
        if not isinstance(dep, int) or isinstance(dep, bool):
            raise UsageError(f"--after takes task ids (got {dep!r})")
    now = time.time() if now is None else now
    stamp = iso(now)
    task = Task(
        id=0, kind=kind.name, job_id=spec.job, label=spec.label or kind.make_label(payload), priority=priority,
        dedupe_key=key, payload=payload, max_attempts=attempts, created_at=stamp, updated_at=stamp,
        not_before=iso(now + spec.delay) if spec.delay else None,
        expires_at=iso(now + spec.expires) if spec.expires else None,
        timeout_s=spec.timeout if spec.timeout else kind.timeout, after=after, meta=dict(spec.meta or {}),
    )
    return task, key
