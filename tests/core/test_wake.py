"""An enqueue in another process wakes an idle worker at once instead of at its next poll."""

from __future__ import annotations

import os
import socket
import threading

from lazyqueue.core import events as ev
from lazyqueue.core import wake, worker
from lazyqueue.core.config import Config
from lazyqueue import Queue
from lazyqueue.core.queue import TaskSpec
from tests.conftest import wait_until


def test_an_add_elsewhere_wakes_a_worker_that_would_not_poll_for_a_minute(home, monkeypatch):
    monkeypatch.setattr(worker, "EXTERNAL_POLL_S", 60.0)
    q = Queue(home, config=Config())
    q.kind("noop")(lambda ctx=None: None)
    done = threading.Event()
    q.subscribe(lambda e: done.set(), types=(ev.TASK_COMPLETED,))
    q.start_worker()
    try:
        wait_until(lambda: any(n.startswith("wake-") for n in os.listdir(home)), message="the wake socket")
        other = Queue(home, config=Config(), light=True)  # as `lazyqueue add` in another process
        other.kind("noop")(lambda ctx=None: None)
        try:
            other.enqueue_many([TaskSpec("noop", {})])
        finally:
            other.close()
        assert done.wait(20), "the worker did not wake for the new task"
    finally:
        q.close()
    assert not [n for n in os.listdir(home) if n.startswith("wake-")]  # removed as the worker stopped


def test_a_socket_left_by_a_killed_worker_is_removed_by_the_next_sender(home):
    home.mkdir(parents=True, exist_ok=True)
    path = home / "wake-999999.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.close()  # nobody listens any more; the file stays
    assert path.exists()
    assert wake.notify(home) == 0
    assert not path.exists()
