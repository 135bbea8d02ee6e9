"""A Python handler's exception that does not pickle still fails its task, with its message."""

from __future__ import annotations

import pickle
import threading

import pytest
import sqlalchemy as sa

from .pyworker import KINDS, register


def test_unpicklable_exceptions_fail_their_tasks_with_the_message_and_end_their_workflows(cluster):
    with pytest.raises(Exception):
        pickle.loads(pickle.dumps(ValueError("holds a lock", threading.Lock())))  # what DBOS would have to do
    register(cluster.q)
    ids = {kind: cluster.q.enqueue(kind, max_attempts=1).task.id for kind in KINDS}
    retried = cluster.q.enqueue("local_class", max_attempts=2).task.id
    cluster.start_workers("py", module="tests.cluster.pyworker")
    errors = {kind: cluster.wait_status(tid, "failed")["error"] for kind, tid in ids.items()}
    assert errors == {
        "local_class": "LocalError: made in a function",
        "lock_arg": errors["lock_arg"],
        "no_text": f"lazyqueue could not record the outcome of t{ids['no_text']}: RuntimeError: no text",
        "async_local": errors["async_local"],
    }
    assert errors["lock_arg"].startswith("ValueError: ('holds a lock', <unlocked _thread.lock object")
    assert errors["async_local"].startswith("LocalError: ('from a coroutine', <unlocked _thread.lock")
    again = cluster.wait_status(retried, "failed", timeout=60)  # a back-off round, then the last attempt
    assert again["attempt"] == 2 and again["error"] == "LocalError: made in a function"
    engine = sa.create_engine(cluster.url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            states = dict(conn.exec_driver_sql("SELECT workflow_uuid, status FROM dbos.workflow_status").all())
    finally:
        engine.dispose()
    assert set(states.values()) == {"SUCCESS"}, states  # no workflow left pending or in error
