"""A head-only writer resumes the journal where the last one left off, and never trusts a stale note."""

from __future__ import annotations

import json

from lazyqueue.core import head_cache
from lazyqueue.core.config import Config
from lazyqueue import Queue
from lazyqueue.core.queue import TaskSpec


def light_add(home, command: str, key: str | None = None):
    q = Queue(home, config=Config(), light=True)  # what `lazyqueue add` opens
    try:
        return q.enqueue_many([TaskSpec("shell", {"command": command}, dedupe_key=key)])[0]
    finally:
        q.close()


def full_ids(home) -> list[int]:
    q = Queue(home, config=Config())
    try:
        return [t.id for t in q.tasks()]
    finally:
        q.close()


def test_resumed_adds_keep_ids_and_dedupe_keys_from_early_in_the_journal(home):
    first = light_add(home, "echo keyed", key="k1")
    for i in range(30):
        light_add(home, f"echo {i}")
    assert (home / head_cache.NAME).exists()
    again = light_add(home, "echo keyed again", key="k1")  # the keyed task is far back in the journal
    assert again.deduplicated and again.task.id == first.task.id
    # a loaded writer (a worker, the TUI) appends meanwhile: the next light add reads past the note
    q = Queue(home, config=Config())
    try:
        q.enqueue("shell", {"command": "from a loaded queue"}, dedupe_key="k2")
        q.cancel(first.task.id)
    finally:
        q.close()
    assert light_add(home, "echo k2", key="k2").deduplicated
    fresh = light_add(home, "echo keyed once more", key="k1")  # k1's task was cancelled: a new one
    assert not fresh.deduplicated
    ids = full_ids(home)
    assert ids == sorted(set(ids)) and ids[-1] == fresh.task.id == 33


def test_a_fold_or_a_rewritten_journal_makes_the_note_useless(home):
    for i in range(5):
        light_add(home, f"echo {i}")
    note = json.loads((home / head_cache.NAME).read_text())
    q = Queue(home, config=Config())
    try:
        q.prune()  # a new snapshot: the note's snapshot no longer matches
    finally:
        q.close()
    assert light_add(home, "after the fold").task.id == 6
    # the same offset but other bytes before it: not resumed
    journal = home / "tasks.journal"
    raw = journal.read_bytes()
    note = json.loads((home / head_cache.NAME).read_text())
    assert head_cache.load(home, tuple(note["snap"]) if note["snap"] else None, journal) is not None
    from lazyqueue.core.journal_line import seal, unseal_line

    lines = [unseal_line(line) for line in raw.split(b"\n") if line]  # rewritten whole, checksums and all
    journal.write_bytes(b"".join(seal(line.replace(b"after the fold", b"AFTER THE FOLD")) for line in lines))
    assert head_cache.load(home, tuple(note["snap"]) if note["snap"] else None, journal) is None
    assert light_add(home, "next").task.id == 7
    assert full_ids(home) == list(range(1, 8))


def test_a_note_others_could_write_is_ignored(home):
    for i in range(3):
        light_add(home, f"echo {i}")
    note = home / head_cache.NAME
    data = json.loads(note.read_text())
    data["next_task_id"] = 1  # would reuse ids if believed
    note.write_text(json.dumps(data))
    note.chmod(0o666)
    assert light_add(home, "next").task.id == 4
