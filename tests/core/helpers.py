"""Small helpers shared by the core tests."""

from __future__ import annotations

import json
from pathlib import Path

from lazyqueue.core.models import Task, iso
from lazyqueue.core.taskfile import Change, TaskFile


def add_task(store: TaskFile, kind: str = "k", status: str = "queued", **fields) -> Task:
    """Commit one task record through `store` (as an enqueue would)."""
    with store.lock:
        if store.loaded:
            store.sync()
        else:
            store.head()
        stamp = fields.pop("stamp", iso())
        task = Task(id=store.next_task_id(), kind=kind, status=status, created_at=stamp, updated_at=stamp, **fields)
        if status in ("completed", "failed", "cancelled", "expired") and task.finished_at is None:
            task.finished_at = stamp
        store.commit(Change(tasks=[task]))
    return task


def loaded(home: Path) -> TaskFile:
    store = TaskFile(home)
    store.load()
    return store


def snapshot_json(home: Path) -> dict:
    return json.loads((home / "tasks.json").read_text())
