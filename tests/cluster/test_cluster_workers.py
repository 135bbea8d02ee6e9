"""Two or three `lazyqueue worker` processes, each with its own state dir as if on its own host."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from ..cli.helpers import max_overlap, pid_gone
from ..conftest import wait_until
from .helpers import LEASE_S, PYTHON


def intervals(path) -> list[tuple[float, float]]:
    return [tuple(map(float, line.split()[:2])) for line in path.read_text().splitlines() if line.strip()]


def test_a_kinds_cap_holds_cluster_wide_and_worker_concurrency_per_process(cluster, tmp_path):
    out = tmp_path / "spans"
    cluster.write_config(f'''
[worker]
concurrency = 3
[kinds.capped]
command = ["sh", "-c", "s=$(date +%s.%N); sleep 0.3; echo \\"$s $(date +%s.%N)\\" >> {out}"]
concurrency = 2
[kinds.free]
command = ["sh", "-c", "s=$(date +%s.%N); sleep 0.3; echo \\"$s $(date +%s.%N) $(basename $LAZYQUEUE_HOME)\\" >> {out}.free"]
''')
    ids = [cluster.q.enqueue("capped", title=f"c{i}").task.id for i in range(8)]
    free = [cluster.q.enqueue("free").task.id for _ in range(9)]
    cluster.start_workers("a", "b", "c")
    for tid in ids + free:
        cluster.wait_status(tid, "completed", timeout=60)
    capped = intervals(out)
    assert len(capped) == 8 and max_overlap(capped) == 2  # cluster-wide: 3 workers, cap 2
    spread = intervals(tmp_path / "spans.free")
    assert len(spread) == 9 and 3 < max_overlap(spread) <= 9  # more than one worker's 3 slots at once
    by_worker: dict[str, list] = {}
    for line in (tmp_path / "spans.free").read_text().splitlines():
        start, end, pid = line.split()
        by_worker.setdefault(pid, []).append((float(start), float(end)))
    assert len(by_worker) >= 2 and all(max_overlap(spans) <= 3 for spans in by_worker.values())  # [worker] concurrency


def test_priority_runs_higher_first(cluster, tmp_path):
    order = tmp_path / "order"
    cluster.write_config(f'''
[kinds.one]
command = ["sh", "-c", "echo {{n}} >> {order}"]
concurrency = 1
''')
    for n, priority in ((1, 2), (2, 9), (3, 5), (4, 10), (5, 5)):
        cluster.add("one", f"n={n}", "--priority", str(priority))
    cluster.worker("a")
    wait_until(lambda: order.exists() and len(order.read_text().split()) == 5, timeout=30, interval=0.1)
    assert order.read_text().split() == ["4", "2", "3", "5", "1"]


def test_dedupe_racing_from_eight_processes_while_queued_and_while_running(cluster, tmp_path):
    def race() -> list[dict]:
        procs = [subprocess.Popen([PYTHON, "-m", "lazyqueue", "add", "--json", "shell", "--dedupe", "same", "--",
                                   "sh", "-c", f"touch {tmp_path}/go; while [ ! -e {tmp_path}/stop ]; do sleep 0.05; done"],
                                  env=cluster.env(f"p{i}"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(8)]
        outs = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
        return [json.loads(o[0]) for o in outs]

    queued = race()
    assert len({r["id"] for r in queued}) == 1 and sorted(r["deduplicated"] for r in queued) == [False] + [True] * 7
    tid = queued[0]["id"]
    cluster.worker("a")
    cluster.wait_status(tid, "running")
    running = race()
    assert {r["id"] for r in running} == {tid} and all(r["deduplicated"] for r in running)
    (tmp_path / "stop").touch()
    cluster.wait_status(tid, "completed")
    assert len(cluster.tasks()) == 1
    assert cluster.add("shell", "--dedupe", "same", "--", "true")["id"] != tid  # the key is free again


def test_cancel_retry_progress_and_log_lines_from_a_third_process(cluster, tmp_path):
    pidfile = tmp_path / "pid"
    long = cluster.add("shell", "--", "sh", "-c", f"echo $$ > {pidfile}; echo '::progress 40 half way'; "
                       "echo line-one; exec sleep 60")
    flaky = cluster.add("shell", "--", "sh", "-c", f"test -e {tmp_path}/once || {{ touch {tmp_path}/once; exit 3; }}")
    cluster.start_workers("a", "b")
    seen = wait_until(lambda: (t := cluster.task(long["id"], ))["progress"] == 40 and t, timeout=30, interval=0.1)
    assert seen["status"] == "running" and seen["progress_label"] == "half way"
    assert seen["owner"]["host"] and seen["owner"]["executor_id"]
    wait_until(lambda: "line-one" in cluster.ok("log", str(long["id"]), host="third").stdout, timeout=10, interval=0.1)
    pid = int(pidfile.read_text())
    out = cluster.ok("cancel", str(long["id"]), host="third")
    assert "cancelling" in out.stdout
    done = cluster.wait_status(long["id"], "cancelled", timeout=15)
    assert done["error"] == "cancelled"
    wait_until(lambda: pid_gone(pid), timeout=5, interval=0.05, message="the cancelled command to be gone")
    failed = cluster.wait_status(flaky["id"], "failed")
    assert failed["error"] and failed["attempt"] == 1
    assert "re-queued" in cluster.ok("retry", str(flaky["id"]), host="third").stdout
    again = cluster.wait_status(flaky["id"], "completed")
    assert again["attempt"] == 1 and again["meta"]["last_error"] == failed["error"]


def test_a_worker_killed_mid_command_has_its_task_resumed_once_on_another(cluster, tmp_path):
    marks = tmp_path / "marks"
    pids = tmp_path / "pids"
    task = cluster.add("shell", "--max-attempts", "2", "--", "sh", "-c",
                       f"echo $$ >> {pids}; sleep 5; echo done >> {marks}")
    first = cluster.worker("a")
    wait_until(lambda: pids.exists(), timeout=30, interval=0.05)
    second = cluster.worker("b")
    owner = cluster.task(task["id"])["owner"]
    assert owner["pid"] == first.pid
    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.time()
    first.wait()
    resumed = wait_until(lambda: (t := cluster.task(task["id"]))["status"] == "running"
                         and t["owner"]["pid"] == second.pid and t, timeout=LEASE_S + 5, interval=0.05,
                         message="the task to run on the other worker")
    assert resumed["attempt"] == 2
    assert time.time() - killed_at <= LEASE_S + 5
    orphan = int(pids.read_text().split()[0])
    assert pid_gone(orphan)
    done = cluster.wait_status(task["id"], "completed", timeout=30)
    assert marks.read_text().split() == ["done"]  # ran to the end once: the orphan was stopped first
    assert done["attempt"] == 2 and len(pids.read_text().split()) == 2
    status = cluster.status()
    assert [w["alive"] for w in status["workers"] if w["pid"] == first.pid] == [False]


def test_then_follow_ups_and_after_dependencies_across_hosts(cluster, tmp_path):
    cluster.write_config('''
[kinds.fetch]
command = ["sh", "-c", "echo '::result {\\"n\\": 7}'"]
then = ["report"]
[kinds.report]
command = ["sh", "-c", "echo reported"]
''')
    first = cluster.add("fetch", "--title", "pipeline", host="laptop")
    slow = cluster.add("shell", "--", "sleep", "1")
    after = cluster.add("shell", "--after", str(slow["id"]), "--", "echo", "after", host="desk")
    assert cluster.ok("show", str(after["id"])).stdout.count(f"waiting on t{slow['id']}") == 1
    cluster.start_workers("a", "b")
    cluster.wait_status(first["id"], "completed")
    follow = wait_until(lambda: [t for t in cluster.tasks() if t["kind"] == "report"], timeout=20, interval=0.1)[0]
    done = cluster.wait_status(follow["id"], "completed")
    assert done["job_id"] == first["job_id"] and done["payload"]["previous_result"] == {"n": 7}
    a = cluster.wait_status(after["id"], "completed")
    s = cluster.task(slow["id"])
    assert a["started_at"] >= s["finished_at"]
    failing = cluster.add("shell", "--", "false")
    blocked = cluster.add("shell", "--after", str(failing["id"]), "--", "true")
    gone = cluster.wait_status(blocked["id"], "failed")
    assert gone["error"] == f"dependency t{failing['id']} did not complete" and gone["attempt"] == 0
