"""`ls` and `show` place queued tasks in line from tasks.idx, in the words a read of every record gives."""

from __future__ import annotations

import time

from lazyqueue import cli
from lazyqueue.core import background
from lazyqueue.core.config import Config
from lazyqueue.core.models import iso
from lazyqueue.core.state import Change
from lazyqueue.local import Queue

from ..core.helpers import add_task, loaded


def _queue(home, light: bool) -> Queue:
    q = Queue(home, config=Config(concurrency=2), light=light, plugins=False)
    q.kind("enc", concurrency=1)(lambda ctx: None)
    return q


def _every_state(home) -> None:
    """One of each wait, folded (so tasks.idx is written), then changes in the journal past the fold."""
    store = loaded(home)
    later = iso(time.time() + 3600)
    add_task(store, "enc", "running")  # t1: takes the cap of enc and one of the two slots
    add_task(store, "enc")  # t2: cap full
    for priority in (5, 1, 9, 5):  # t3..t6 (the others are at 5)
        add_task(store, "shell", priority=priority)
    add_task(store, "shell", "completed")  # t7
    add_task(store, "shell", after=[7])  # t8: its dependency completed
    add_task(store, "shell", after=[3])  # t9: waiting on t3
    add_task(store, "shell", "failed")  # t10
    add_task(store, "shell", after=[10])  # t11: its dependency did not complete
    add_task(store, "shell", not_before=later)  # t12: starts later
    add_task(store, "track")  # t13: takes no slot
    add_task(store, "gone")  # t14: a kind no longer defined
    with store.lock:
        store.compact(retention=False)
    add_task(store, "shell", priority=9)  # t15, only in the journal
    with store.lock:
        store.sync()
        store.commit(Change(patches=[{"id": 4, "priority": 8}]))  # t4 moves up, in the journal
    store.close()


def test_the_line_from_the_index_says_what_a_read_of_every_record_says(home):
    _every_state(home)
    assert (home / "tasks.idx").is_file()
    worker = background.register(home, "foreground")  # a worker is alive: places in line, not "no worker"
    try:
        light, whole = _queue(home, light=True), _queue(home, light=False)
        tasks, older = light.recent_tasks(100)  # as `ls` reads them: through the index
        assert [t.id for t in tasks] == list(range(1, 16)) and older == 0
        assert light.queued_line([t for t in tasks if t.status == "queued"]) is not None  # through the index
        assert whole.queued_line(tasks) is None  # a loaded queue works it out from its records
        fast, slow = cli._queued_infos(light, tasks), cli._queued_infos(whole, tasks)
    finally:
        background.unregister(worker)
    assert fast == slow
    # one slot is free (t1 holds the other): t5 and t15 (priority 9), t4 (now 8), then at 5 t2, t3, t6, t8
    assert fast[5] == "next up" and fast[15] == "2nd in line" and fast[4] == "3rd in line"
    assert fast[2] == "cap full: enc 1/1 · 4th in line"
    assert fast[3] == "5th in line" and fast[6] == "6th in line" and fast[8] == "7th in line"
    assert fast[9] == "waiting on t3" and fast[11] == "dependency t10 did not complete"
    assert fast[12].startswith("starts at ") and fast[13] == "next up"
    assert fast[14] == "kind 'gone' is not defined (no config file)"


def test_ls_at_the_command_line_reads_the_line_from_the_index(cli_env, home):
    _every_state(home)
    out = cli_main_out(cli_env, "ls")
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert rows["t3"].endswith("no worker running — 'lazyqueue worker start' or open lazyqueue")
    assert rows["t9"].endswith("waiting on t3") and "starts at" in rows["t12"]
    shown = cli_main_out(cli_env, "show", "9")
    assert "\nwaiting     waiting on t3\n" in shown


def cli_main_out(env, *args) -> str:
    from .helpers import ok

    return ok(env, *args).stdout
