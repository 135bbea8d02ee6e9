"""Worker processes that tell the cluster which machine they are on (LAZYQUEUE_HOST): cancel across
hosts, commands orphaned on another host, and `per_host` caps shared by the processes of one host."""

from __future__ import annotations

import json
import os
import signal

from ..cli.helpers import max_overlap, pid_gone
from ..conftest import wait_until
from .helpers import LEASE_S


def _long(tmp_path, n: int) -> list[str]:
    return ["sh", "-c", f"echo $$ > {tmp_path}/pid{n}; exec sleep 120"]


def _pid(tmp_path, n: int) -> int:
    path = tmp_path / f"pid{n}"
    return int(wait_until(lambda: path.exists() and path.read_text().strip(), timeout=30, interval=0.05,
                          message=f"command {n} to start"))


def test_cancel_stops_a_command_on_another_host_and_one_its_dead_worker_left(cluster, tmp_path):
    h1 = cluster.worker("h1", machine="h1")
    live = cluster.add("shell", "--", *_long(tmp_path, 1))
    left = cluster.add("shell", "--", *_long(tmp_path, 2))
    live_pid, left_pid = _pid(tmp_path, 1), _pid(tmp_path, 2)
    assert {cluster.task(t["id"])["owner"]["host"] for t in (live, left)} == {"h1"}

    # the owner is alive: it sees the cancel asked from a third process in the database, and stops its command
    assert "cancelling" in cluster.ok("cancel", str(live["id"]), host="ctl").stdout
    assert cluster.wait_status(live["id"], "cancelled", timeout=15)["error"] == "cancelled"
    wait_until(lambda: pid_gone(live_pid), timeout=10, interval=0.05, message="the cancelled command to stop")

    # the owner dies; its command runs on in its own process group on h1
    os.kill(h1.pid, signal.SIGKILL)
    h1.wait()
    assert not pid_gone(left_pid)
    group = os.getpgid(left_pid)
    assert "cancelling" in cluster.ok("cancel", str(left["id"]), host="ctl").stdout
    # h2 starts only now: a worker alive before the cancel could take the task back first (the lease
    # runs out while a loaded machine starts the cancel), and the attempt would end as failed
    cluster.worker("h2", machine="h2")
    done = cluster.wait_status(left["id"], "cancelled", timeout=LEASE_S + 30)  # h2 takes it back after the lease
    assert done["error"] == "cancelled" and done["owner"] is None
    # h2 cannot signal a process on h1: the cluster keeps it for a worker there, and says so
    status = json.loads(cluster.ok("cluster", "status", "--json").stdout)
    assert [(o["host"], o["pgid"], o["task_id"]) for o in status["orphans"]] == [("h1", group, left["id"])]
    text = cluster.ok("cluster", "status").stdout
    assert f"t{left['id']}'s command (process group {group}) may still run on h1" in text
    assert not pid_gone(left_pid)

    # the next worker on h1 stops it
    cluster.worker("h1-again", machine="h1")
    wait_until(lambda: pid_gone(left_pid), timeout=15, interval=0.05, message="the orphaned command to stop")
    assert json.loads(cluster.ok("cluster", "status", "--json").stdout)["orphans"] == []
    assert cluster.task(left["id"])["status"] == "cancelled"


def _spans(path) -> dict[str, list[tuple[float, float]]]:
    by: dict[str, list] = {}
    for line in path.read_text().splitlines():
        start, end, host, home = line.split()
        by.setdefault(host, []).append((float(start), float(end)))
        by.setdefault(home, []).append((float(start), float(end)))  # the worker process (its state dir)
    return by


def test_per_host_caps_hold_across_the_worker_processes_of_one_host(cluster, tmp_path):
    record = 's=$(date +%s.%N); sleep 0.3; echo \\"$s $(date +%s.%N) $LAZYQUEUE_HOST $(basename $LAZYQUEUE_HOME)\\" >> {out}'
    cluster.write_config(f'''
[worker]
concurrency = 3
[kinds.gpu]
command = ["sh", "-c", "{record.format(out=tmp_path / 'gpu')}"]
per_host = 1
[kinds.render]
command = ["sh", "-c", "{record.format(out=tmp_path / 'render')}"]
per_host = 1
concurrency = 2
''')
    gpus = [cluster.q.enqueue("gpu").task.id for _ in range(8)]
    renders = [cluster.q.enqueue("render").task.id for _ in range(8)]
    cluster.start_workers("g1a", "g1b", machine="gpu-1")
    cluster.start_workers("g2", machine="gpu-2")
    for tid in gpus + renders:
        cluster.wait_status(tid, "completed", timeout=90)
    ran: dict[str, int] = {}
    for name in ("gpu", "render"):
        spans = _spans(tmp_path / name)
        assert len(spans["gpu-1"]) + len(spans.get("gpu-2", ())) == 8
        # one at a time on each host, though gpu-1 runs two worker processes with a slot each
        assert max_overlap(spans["gpu-1"]) == 1 and max_overlap(spans.get("gpu-2", ())) <= 1, name
        for process in ("g1a", "g1b", "g2"):
            ran[process] = ran.get(process, 0) + len(spans.get(process, ()))
    assert all(ran.values()), ran  # both processes of gpu-1 took their turns, and gpu-2 was not starved
    render = _spans(tmp_path / "render")
    assert max_overlap(render["gpu-1"] + render.get("gpu-2", [])) <= 2  # the cluster-wide cap still holds
    # a host at its cap hands the round back rather than holding a cluster-wide slot: DBOS keeps no pile of rounds
    import sqlalchemy as sa

    engine = sa.create_engine(cluster.url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            most = conn.exec_driver_sql(
                "SELECT max(n) FROM (SELECT count(*) AS n FROM dbos.workflow_status GROUP BY "
                "split_part(workflow_uuid, '-r', 1)) c").scalar()
    finally:
        engine.dispose()
    assert most <= 2
