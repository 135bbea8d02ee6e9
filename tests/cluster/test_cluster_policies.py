"""Expiry, durable back-off, timeouts, per_host and retention on the cluster engine."""

from __future__ import annotations

import time

import sqlalchemy as sa

from lazyqueue.core.models import parse_iso

from ..conftest import wait_until
from ..cli.helpers import max_overlap
from .test_cluster_workers import intervals


def test_expiry_backoff_timeout_and_per_host(cluster, tmp_path):
    out = tmp_path / "gpu"
    cluster.write_config(f'''
[worker]
concurrency = 3
[kinds.flaky]
command = ["sh", "-c", "test -e {tmp_path}/f || {{ touch {tmp_path}/f; exit 1; }}"]
max_attempts = 2
backoff = {{ base = 1.5, factor = 1, jitter = 0 }}
[kinds.gpu]
command = ["sh", "-c", "s=$(date +%s.%N); sleep 0.3; echo \\"$s $(date +%s.%N)\\" >> {out}"]
per_host = 1
''')
    stale = cluster.add("shell", "--expires", "0.5", "--", "true")
    wait_until(lambda: time.time() > parse_iso(stale["expires_at"]), timeout=5, interval=0.05)
    flaky = cluster.add("flaky")
    slow = cluster.add("shell", "--timeout", "1", "--", "sleep", "30")
    gpus = [cluster.q.enqueue("gpu").task.id for _ in range(6)]
    cluster.start_workers("a", "b")
    expired = cluster.wait_status(stale["id"], "expired")
    assert expired["attempt"] == 0 and expired["error"] == "not started before it expired"
    waiting = wait_until(lambda: (t := cluster.task(flaky["id"]))["attempt"] == 1 and t["status"] == "queued" and t,
                         timeout=20, interval=0.05)
    assert waiting["not_before"] and waiting["error"]  # a durable delay, not a slot held while sleeping
    done = cluster.wait_status(flaky["id"], "completed")
    assert done["attempt"] == 2 and done["started_at"] >= waiting["not_before"]
    timed = cluster.wait_status(slow["id"], "failed", timeout=20)
    assert timed["error"] == "timed out after 1 s"
    for tid in gpus:
        cluster.wait_status(tid, "completed")
    assert max_overlap(intervals(out)) == 1  # both workers run on this machine: one at a time here


def test_prune_moves_finished_tasks_to_the_archive_and_drops_their_dbos_rows(cluster):
    cluster.write_config("[retention]\nkeep = 1\n")
    ids = [cluster.add("shell", "--", "echo", str(i))["id"] for i in range(3)]
    cluster.worker("a")
    for tid in ids:
        cluster.wait_status(tid, "completed")
    out = cluster.ok("prune")
    assert "moved 2 finished task(s)" in out.stdout
    assert [t["id"] for t in cluster.tasks()] == [ids[-1]]
    assert cluster.task(ids[0])["status"] == "completed"  # still found, in the archive
    engine = sa.create_engine(cluster.url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT workflow_uuid FROM dbos.workflow_status ORDER BY 1").scalars().all()
    engine.dispose()
    assert left == [f"lq-t{ids[-1]}-r1"]
