"""The worker with many delayed tasks in the file: its pass, its start, add → command running.

- pass: one worker pass (in-process: `wake()` then `tick()` after a delayed
  task was queued, the pass another process's add causes) with 1,000 and
  100,000 tasks delayed an hour in the file; median CPU ms of the pass.
  Flat is the goal: the pass must not walk the delayed tasks.
- start: `lazyqueue worker` on a file of 100,000 delayed tasks and one ready
  command, from the process's spawn to that command running (the command
  prints its own clock into its log); VmRSS once it has settled.
- add → running: an idle `lazyqueue worker`, then `lazyqueue add shell --
  date +%s.%N`: from the add's spawn to the clock the command printed
  (p50, p95), on an empty queue and with 100,000 delayed.

    python -m lazyqueue.bench --only worker
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .cpu import proc_cpu
from .report import Row, median
from .rss import read_status
from .shell import env_for, lazyqueue_cmd, stop_process

DELAY = 3600
CLOCK = ["date", "+%s.%N"]


def fill(home: Path, delayed: int, ready: bool = False) -> None:
    """`delayed` shell tasks due in an hour (and one ready clock command), folded into tasks.json."""
    from lazyqueue import Queue, TaskSpec
    from lazyqueue.core.config import Config

    q = Queue(home, config=Config())
    try:
        specs = [TaskSpec("shell", {"command": f"echo {i}"}, delay=DELAY) for i in range(delayed)]
        if ready:
            specs.append(TaskSpec("shell", {"argv": CLOCK}))
        for start in range(0, len(specs), 10_000):
            q.enqueue_many(specs[start:start + 10_000])
        with q.taskfile.lock:
            q.taskfile.compact(retention=False)
    finally:
        q.close()


def pass_cost(home: Path, passes: int) -> list[float]:
    """CPU ms of each of `passes` worker passes, each after one delayed task was queued."""
    from lazyqueue import Queue
    from lazyqueue.core.config import Config
    from lazyqueue.core.worker import Worker

    q = Queue(home, config=Config())
    worker = Worker(q.taskfile, q.events, q.registry, concurrency=2)
    try:
        worker.tick()  # the first pass: recovery, the first look at everything
        got = []
        for i in range(passes):
            q.enqueue("shell", {"command": f"echo late {i}"}, delay=DELAY)
            worker.wake()
            c0 = time.thread_time()
            worker.tick()
            got.append((time.thread_time() - c0) * 1000)
        return got
    finally:
        worker.close()
        q.close()


def clock_in_log(home: Path, task_id: int, deadline: float) -> float:
    """The clock a `date +%s.%N` task printed into its log (polled until `deadline`)."""
    log = home / "logs" / f"{task_id}.log"
    while time.monotonic() < deadline:
        try:
            for line in log.read_text().splitlines():
                head, _, tail = line.partition(".")
                if head.isdigit() and tail.isdigit():
                    return float(line)
        except FileNotFoundError:
            pass
        time.sleep(0.001)  # the interval of the poll for the command's output
    raise RuntimeError(f"task {task_id} did not run within the deadline")


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen([*lazyqueue_cmd(), "worker", "-q"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def worker_start(template: Path, tmp: Path, ready_id: int) -> tuple[float, float, float]:
    """(ms from spawn to the ready command running, its CPU ms by then, VmRSS MB settled) of one `lazyqueue worker`."""
    home = tmp / "home"
    shutil.copytree(template, home)
    config = tmp / "config.toml"
    config.write_text("")
    env = env_for(home, config)
    t0 = time.time()
    proc = start_worker(env)
    try:
        ran = clock_in_log(home, ready_id, time.monotonic() + 120)
        cpu = proc_cpu(proc.pid) * 1000  # a busy machine stretches the wall time; this is the work
        last, same = None, 0
        deadline = time.monotonic() + 30
        while same < 3 and time.monotonic() < deadline:
            rss = read_status(proc.pid)["VmRSS"]
            same = same + 1 if last is not None and abs(rss - last) < 0.05 else 0
            last = rss
            time.sleep(0.25)  # sampling interval of the settle check, not a synchronisation
        return (ran - t0) * 1000, cpu, last
    finally:
        stop_process(proc)


def wait_listening(home: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until the worker's wake socket exists (it listens, its first pass is under way)."""
    deadline = time.monotonic() + timeout
    while not (home.is_dir() and any(p.name.startswith("wake-") for p in home.iterdir())):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the worker did not start")
        time.sleep(0.01)


def add_to_running(template: Path | None, tmp: Path, rounds: int) -> list[float]:
    """ms from `lazyqueue add` spawn to its command running, an idle worker alive, `rounds` times."""
    home = tmp / "home"
    tmp.mkdir(parents=True, exist_ok=True)
    if template is not None:
        shutil.copytree(template, home)
    config = tmp / "config.toml"
    config.write_text("")
    env = env_for(home, config)
    proc = start_worker(env)
    got = []
    try:
        wait_listening(home, proc)
        # the first add waits for the worker's first pass (loading the file): not an idle worker yet
        subprocess.run([*lazyqueue_cmd(), "add", "shell", "--", "true"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        for _ in range(rounds):
            time.sleep(0.3)  # let the worker go idle again: the figure is for an idle worker
            t0 = time.time()
            out = subprocess.run([*lazyqueue_cmd(), "add", "shell", "--json", "--", *CLOCK], env=env,
                                 check=True, capture_output=True, text=True).stdout
            import json

            tid = json.loads(out)["id"]
            got.append((clock_in_log(home, tid, time.monotonic() + 60) - t0) * 1000)
        return got
    finally:
        stop_process(proc)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def run(quick: bool = False) -> list[Row]:
    big = 20_000 if quick else 100_000
    small = 1_000
    passes = 10 if quick else 30
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
        tmp = Path(d)
        templates = {}
        for n in (small, big):
            templates[n] = tmp / f"tpl-{n}"
            fill(templates[n], n)
        costs = {}
        for n in (small, big):
            home = tmp / f"pass-{n}"
            shutil.copytree(templates[n], home)
            costs[n] = pass_cost(home, passes)
            rows.append(Row("worker", f"one pass, {n:,} delayed tasks: CPU", lazyqueue=median(costs[n]),
                            runs=passes, samples=[round(c, 3) for c in costs[n]]))
        flat = Row("worker", f"pass CPU at {big:,} ÷ at {small:,} delayed", lazyqueue=median(costs[big]),
                   other=median(costs[small]), other_name=f"{small:,} delayed", goal="ratio ≤ 1.5 (flat)",
                   runs=passes)
        flat.ok = flat.ratio is not None and flat.ratio <= 1.5
        rows.append(flat)

        ready_tpl = tmp / "tpl-ready"
        fill(ready_tpl, big, ready=True)
        starts, cpus, rss = [], [], []
        for i in range(1 if quick else 3):
            ms, cpu, mb = worker_start(ready_tpl, tmp / f"start-{i}", ready_id=big + 1)
            starts.append(ms)
            cpus.append(cpu)
            rss.append(mb)
        row = Row("worker", f"worker start → command running, {big:,} delayed", lazyqueue=median(starts),
                  goal="< 1 s", runs=len(starts), samples=starts)
        row.ok = row.lazyqueue < 1000
        rows.append(row)
        rows.append(Row("worker", f"worker start → command running, {big:,} delayed: CPU", lazyqueue=median(cpus),
                        runs=len(cpus), samples=cpus))
        row = Row("worker", f"worker VmRSS, {big:,} delayed", lazyqueue=median(rss), unit="MB", goal="< 100 MB",
                  runs=len(rss), samples=rss)
        row.ok = row.lazyqueue < 100
        rows.append(row)

        rounds = 5 if quick else 15
        for label, template in (("empty queue", None), (f"{big:,} delayed", templates[big])):
            got = add_to_running(template, tmp / f"lat-{label.split()[0]}", rounds)
            row = Row("worker", f"add → command running, idle worker, {label}: p50", lazyqueue=median(got),
                      goal="< 50 ms", runs=rounds, samples=[round(g, 1) for g in got])
            row.ok = row.lazyqueue < 50
            rows.append(row)
            rows.append(Row("worker", f"add → command running, idle worker, {label}: p95",
                            lazyqueue=percentile(got, 0.95), runs=rounds))
    return rows
