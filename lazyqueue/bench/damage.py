"""Damage trials for `python -m lazyqueue.bench.torture`: what the disk, a cleaner or another user can do.

Classes (each a few trials on a fresh state directory):
  lock-replaced  three processes add tasks while `tasks.lock` is deleted and
                 replaced again and again; every acknowledged add must be
                 there, under an id of its own.
  bit-flips      one random bit of a random journal line flipped; what loads
                 must be what was written, or the damage must be reported.
  short-writes   appends and folds (with retention) where every os.write
                 writes a third, and some fail with ENOSPC; every
                 acknowledged task is live or archived, exactly once.
  poisoned       records with values a writer never makes (bad times, types);
                 the CLI stays up and every good task still runs.
  shared-dir     a state directory others may write (0777): made private, and
                 a file another user planted refuses the directory (as root).
  clock-steps    the wall clock stepped forward and back (±700 s, −3,600 s)
                 while a worker times tasks out, renews leases and scans for
                 orphans; every timeout must fire when its time has really
                 passed, never at a step (misfired), leases must be renewed.
  broken-running running records that load but break a step of the worker
                 pass (a lease that is not a time, a pid no system call
                 takes); each must fail alone with the reason, every good
                 task still runs (stuck).
  retention      tasks with logs through prune with a small archive limit:
                 every task live or archived (lost), no id twice
                 (duplicated), no log of an archived task left
                 (leftover_logs), every archived id found through the index.
Counts: lost (acknowledged, neither live, archived nor in a copy set aside),
duplicated (one id for two tasks), stuck (a good task left queued),
silently changed (a record that differs from what was written, unreported).
"""

from __future__ import annotations

import errno
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

PYTHON = sys.executable


def _env(home: Path) -> dict:
    from .torture import cli_env

    config = home.parent / "config.toml"
    if not config.exists():
        config.write_text("")
    return cli_env(home, config)


_ADDER = """
import json, sys
from lazyqueue import Queue  # with the built-in kinds (the core's Queue knows none)
from lazyqueue.core.config import Config
q = Queue(sys.argv[1], config=Config(), light=True, plugins=False)
for i in range(int(sys.argv[2])):
    t = q.enqueue("shell", {"command": "true"}, label=f"{sys.argv[3]}-{i}").task
    print(json.dumps([t.id, t.label]), flush=True)
q.close()
"""


def lock_replaced(home: Path, rng: random.Random, summary) -> None:
    home.mkdir(mode=0o700)
    env = _env(home)
    procs = [subprocess.Popen([PYTHON, "-c", _ADDER, str(home), "60", f"w{n}"], env=env,
                              stdout=subprocess.PIPE, text=True) for n in range(3)]
    stop = threading.Event()

    def replace_lock() -> None:
        lock = home / "tasks.lock"
        while not stop.is_set():
            try:
                if rng.random() < 0.5:
                    lock.unlink()
                else:
                    tmp = home / "tasks.lock.new"
                    tmp.write_bytes(b"")
                    os.replace(tmp, lock)  # a backup restore
            except OSError:
                pass
            stop.wait(0.002)

    thread = threading.Thread(target=replace_lock, daemon=True)
    thread.start()
    acked = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        acked += [tuple(json.loads(line)) for line in out.splitlines() if line.strip()]
    stop.set()
    thread.join()
    live = _load(home)
    ids = [tid for tid, _ in acked]
    summary.tasks += len(acked)
    summary.duplicated += len(ids) - len(set(ids))
    summary.lost += sum(1 for tid, label in acked if tid not in live or live[tid].label != label)


def _load(home: Path) -> dict:
    from ..core.taskfile import TaskFile

    store = TaskFile(home)
    try:
        store.load()
        return dict(store.state.tasks)
    finally:
        store.close()


def _build(home: Path, n: int) -> dict:
    """n tasks through real commits: adds, then patches and finishes for some."""
    from ..core.models import iso
    from ..core.state import Change
    from ..core.taskfile import TaskFile
    from ..core.models import Task

    store = TaskFile(home)
    store.load()
    for i in range(n):
        with store.lock:
            store.sync()
            stamp = iso()
            task = Task(id=store.next_task_id(), kind="shell", label=f"t{i}", payload={"command": f"echo {i}"},
                        created_at=stamp, updated_at=stamp)
            store.commit(Change(tasks=[task]))
        if i % 3 == 0:
            with store.lock:
                store.sync()
                store.commit(Change(patches=[{"id": task.id, "status": "completed", "finished_at": iso()}]))
    want = {tid: t.to_dict() for tid, t in store.state.tasks.items()}
    store.close()
    return want


def bit_flips(home: Path, rng: random.Random, summary, flips: int = 40) -> None:
    from ..core.taskfile import TaskFile

    home.mkdir(mode=0o700)
    want = _build(home, 30)
    journal = (home / "tasks.journal").read_bytes()
    lines = journal.split(b"\n")[:-1]
    for _ in range(flips):
        trial = home.parent / f"flip-{rng.randrange(1 << 30)}"
        trial.mkdir(mode=0o700)
        i = rng.randrange(len(lines) - 1)  # a non-final line
        damaged = bytearray(lines[i])
        pos = rng.randrange(len(damaged))
        damaged[pos] ^= 1 << rng.randrange(8)
        changed = lines[:i] + [bytes(damaged)] + lines[i + 1:]
        (trial / "tasks.journal").write_bytes(b"".join(line + b"\n" for line in changed))
        store = TaskFile(trial)
        try:
            store.load()
            got = {tid: t.to_dict() for tid, t in store.state.tasks.items()}
            warned = bool(store.warnings)
            with store.lock:
                next_id = store.head().next_task_id
        except Exception as exc:  # noqa: BLE001 - any crash is a finding
            summary.problems.append(f"bit flip: load raised {exc!r}")
            summary.silently_changed += 1
            continue
        finally:
            store.close()
        summary.tasks += len(want)
        if got != want and not warned:
            summary.silently_changed += 1
            summary.problems.append(f"bit flip in line {i + 1} byte {pos}: changed without a word")
        if next_id <= max(want):
            summary.duplicated += 1
            summary.problems.append(f"bit flip in line {i + 1}: next id {next_id} would be handed out again")
        kept = warned and any(trial.glob("tasks.journal.*"))  # told, and the damaged line is in a copy
        gone = [tid for tid in want if tid not in got and not kept]
        if gone:
            summary.lost += len(gone)
            summary.problems.append(f"bit flip in line {i + 1} byte {pos}: tasks {gone} gone (warnings: {warned})")


def short_writes(home: Path, rng: random.Random, summary) -> None:
    from ..core import taskfile as tf
    from ..core.errors import StoreError
    from ..core.models import RetentionPolicy, Task, iso
    from ..core.state import Change

    home.mkdir(mode=0o700)
    store = tf.TaskFile(home, retention=RetentionPolicy(keep=5, max_age_days=30))
    store.load()
    real_write = os.write
    acked: set[int] = set()

    def flaky(fd, data):
        if rng.random() < 0.08:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, bytes(data[: max(1, len(data) // 3)]))

    tf.os.write = flaky
    try:
        for i in range(120):
            try:
                with store.lock:
                    store.sync()
                    stamp = iso()
                    task = Task(id=store.next_task_id(), kind="shell", status="completed", label=f"s{i}",
                                created_at=stamp, updated_at=stamp, finished_at=stamp)
                    store.commit(Change(tasks=[task]))
                acked.add(task.id)
                if i % 10 == 9:
                    with store.lock:
                        store.compact()
            except StoreError:
                with store.lock:
                    store.loaded = False
                    store.sync()
    finally:
        tf.os.write = real_write
    store.close()
    live = _load(home)
    archived: list[int] = []
    reader = tf.TaskFile(home)
    for rec in _archive_lines(home):
        archived.append(rec)
    reader.close()
    summary.tasks += len(acked)
    summary.lost += len(acked - set(live) - set(archived))
    summary.duplicated += len(archived) - len(set(archived)) + len(set(live) & set(archived))


def _archive_lines(home: Path) -> list[int]:
    out = []
    try:
        raw = (home / "archive.jsonl").read_bytes()
    except FileNotFoundError:
        return out
    for line in raw.split(b"\n"):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("type") == "task":
            out.append(entry["record"]["id"])
    return out


def poisoned(home: Path, rng: random.Random, summary) -> None:
    from .torture import lq

    home.mkdir(mode=0o700)
    env = _env(home)
    good = [json.loads(lq(env, "add", "--json", "shell", "--", "true").stdout)["id"] for _ in range(3)]
    poison = rng.choice([
        {"not_before": "yesterday"}, {"expires_at": "2026-13-45T99:99:99Z"}, {"created_at": 7},
        {"priority": "high"}, {"attempt": "1"}, {"owner": "me"}, {"after": ["t1"]},
    ])
    rec = {"id": 999, "kind": "shell", "status": "queued", "label": "poison", "payload": {"command": "true"},
           "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", **poison}
    seq = 1 + max(e["seq"] for e in _entries(home))
    from ..core.journal_line import seal

    with open(home / "tasks.journal", "ab") as fh:
        fh.write(seal(json.dumps({"seq": seq, "tasks": [rec], "next_task_id": 1000, "next_job_id": 1000}).encode()))
    for args in (["ls"], ["ls", "--json"], ["show", str(good[0])]):
        proc = lq(env, *args)
        if proc.returncode != 0 or "Traceback" in proc.stderr:
            summary.problems.append(f"poisoned {poison}: lazyqueue {' '.join(args)} -> {proc.returncode} {proc.stderr[-200:]}")
            summary.stuck += 1
    proc = lq(env, "worker", "--exit-when-idle", "-q", timeout=60)
    tasks = {t["id"]: t for t in json.loads(lq(env, "ls", "--json").stdout or "[]")}
    summary.tasks += len(good)
    summary.stuck += sum(1 for tid in good if tasks.get(tid, {}).get("status") != "completed")
    if proc.returncode != 0:
        summary.problems.append(f"poisoned {poison}: worker exited {proc.returncode}: {proc.stderr[-200:]}")


def _entries(home: Path) -> list[dict]:
    from ..core.taskfile import journal_entries

    return journal_entries(home / "tasks.journal")


def shared_dir(home: Path, rng: random.Random, summary) -> None:
    from .torture import lq

    home.mkdir(mode=0o700)
    env = _env(home)
    lq(env, "add", "shell", "--", "true")
    os.chmod(home, 0o777)
    proc = lq(env, "ls")
    summary.tasks += 1
    if (os.stat(home).st_mode & 0o077) or "made it private" not in proc.stderr:
        summary.silently_changed += 1
        summary.problems.append("shared dir: a 0777 state directory was used as it was")
    if os.getuid() != 0:
        return
    os.chmod(home, 0o777)
    marker = home.parent / "planted-ran"
    from ..core.journal_line import seal

    planted = home / "tasks.journal"
    entry = {"seq": 10_000, "tasks": [{"id": 500, "kind": "shell", "status": "queued", "label": "planted",
                                        "payload": {"command": f"touch {marker}"},
                                        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}]}
    with open(planted, "ab") as fh:
        fh.write(seal(json.dumps(entry).encode()))
    os.chown(planted, 54321, 54321)  # now another user's file
    proc = lq(env, "worker", "--exit-when-idle", "-q", timeout=60)
    if marker.exists() or proc.returncode == 0:
        summary.silently_changed += 1
        summary.problems.append("shared dir: a task another user planted was run")


class _Clock:
    """Both clocks of this process, offset from the real ones (restored by `close`)."""

    def __init__(self):
        import time

        self.time = time
        self.real_time, self.real_mono = time.time, time.monotonic
        self.wall = self.mono = 0.0
        time.time = lambda: self.real_time() + self.wall
        time.monotonic = lambda: self.real_mono() + self.mono

    def elapse(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds

    def close(self) -> None:
        self.time.time, self.time.monotonic = self.real_time, self.real_mono


def clock_steps(home: Path, rng: random.Random, summary) -> None:
    """A worker driven pass by pass while the wall clock steps; count timeouts that fire at the wrong time."""
    from ..core import worker as worker_mod
    from ..core.config import Config
    from ..core.queue import Queue
    from ..core.taskfile import TaskFile

    home.mkdir(mode=0o700)
    clock = _Clock()
    q = Queue(home, config=Config(concurrency=8), plugins=False)
    worker = worker_mod.Worker(q.taskfile, q.events, q.registry, concurrency=8)
    q.worker = worker

    def slow(ctx):
        ctx.wait_cancelled(60)
        ctx.check_cancelled()

    q.kind("slow", max_attempts=1)(slow)
    try:
        timeouts = {}
        for _ in range(6):
            task, _ = q.enqueue("slow", timeout=rng.choice((30, 60, 120, 300)))
            timeouts[task.id] = task.timeout_s
        worker.tick()
        began = clock.mono
        summary.tasks += len(timeouts)
        elapsed = 0.0
        while elapsed < 330:
            step = rng.choice((700.0, -700.0, -3600.0, 0.0, 0.0))
            clock.wall += step  # a step: no time passes
            worker.tick()
            gap = rng.choice((5.0, 10.0, 15.0))
            clock.elapse(gap)
            elapsed = clock.mono - began
            worker.tick()
            for tid, limit in timeouts.items():
                run = worker.running.get(tid)
                fired = run is None or run.ctx.cancelled
                if fired != (elapsed >= limit):
                    summary.misfired += 1
                    summary.problems.append(f"clock steps: t{tid}'s {limit:g} s timeout {'fired' if fired else 'had not fired'} "
                                            f"after {elapsed:g} s (wall stepped {step:+g} s)")
                    timeouts = {k: v for k, v in timeouts.items() if k != tid}
                    break
            _settle(worker)
        store = TaskFile(home)
        store.load()
        for tid in timeouts:
            task = store.state.tasks[tid]
            if task.status != "failed" or not (task.error or "").startswith("timed out"):
                summary.stuck += 1
                summary.problems.append(f"clock steps: t{tid} ended {task.status} ({task.error})")
        store.close()
    finally:
        for run in list(worker.running.values()):
            run.ctx.request_cancel("shutdown")
        worker.close()
        q.close()
        clock.close()


def _settle(worker, limit: float = 10.0) -> None:
    """Record the handlers that stopped (a timeout just asked them to)."""
    import time

    deadline = time.perf_counter() + limit
    while any(r.ctx.cancelled for r in worker.running.values()) and time.perf_counter() < deadline:
        if worker.outcomes_waiting():
            worker.tick()
        else:
            threading.Event().wait(0.005)


def broken_running(home: Path, rng: random.Random, summary) -> None:
    from ..core.journal_line import seal
    from ..core.processes import HOST
    from .torture import lq

    home.mkdir(mode=0o700)
    env = _env(home)
    good = [json.loads(lq(env, "add", "--json", "shell", "--", "true").stdout)["id"] for _ in range(3)]
    owner = rng.choice([
        {"pid": 1, "host": "elsewhere", "worker": "elsewhere:1:x", "lease_until": 5},
        {"pid": 10 ** 30, "host": HOST, "worker": f"{HOST}:0:x"},
        {"pid": 1, "host": "elsewhere", "worker": "elsewhere:1:x", "lease_until": ["2026"]},
    ])
    rec = {"id": 999, "kind": "shell", "status": "running", "label": "broken", "payload": {"command": "true"},
           "attempt": 1, "max_attempts": 3, "owner": owner, "created_at": "2026-01-01T00:00:00.000Z",
           "updated_at": "2026-01-01T00:00:00.000Z", "started_at": "2026-01-01T00:00:00.000Z"}
    seq = 1 + max(e["seq"] for e in _entries(home))
    with open(home / "tasks.journal", "ab") as fh:
        fh.write(seal(json.dumps({"seq": seq, "tasks": [rec], "next_task_id": 1000, "next_job_id": 1000}).encode()))
    proc = lq(env, "worker", "--exit-when-idle", "-q", timeout=60)
    tasks = {t["id"]: t for t in json.loads(lq(env, "ls", "--json").stdout or "[]")}
    summary.tasks += len(good) + 1
    summary.stuck += sum(1 for tid in good if tasks.get(tid, {}).get("status") != "completed")
    broken = tasks.get(999, {})
    if broken.get("status") != "failed" or not (broken.get("error") or "").startswith("lazyqueue could not"):
        summary.stuck += 1
        summary.problems.append(f"broken running {owner}: ended {broken.get('status')} ({broken.get('error')})")
    if proc.returncode != 0:
        summary.problems.append(f"broken running {owner}: worker exited {proc.returncode}: {proc.stderr[-200:]}")


def retention(home: Path, rng: random.Random, summary) -> None:
    from ..core.config import Config
    from ..core.models import RetentionPolicy
    from ..local import Queue

    home.mkdir(mode=0o700)
    policy = RetentionPolicy(keep=rng.choice((0, 5, 20)), archive_max_mb=rng.choice((0.02, 0.05, 64.0)))
    q = Queue(home, config=Config(retention=policy), plugins=False)
    q.taskfile.retention = policy
    (home / "logs").mkdir(mode=0o700, exist_ok=True)
    made = []
    for round_ in range(4):
        for _ in range(rng.randrange(10, 40)):
            task, _ = q.enqueue("shell", {"command": "true"})
            q.cancel(task.id)
            (home / "logs" / f"{task.id}.log").write_bytes(b"output\n" * rng.randrange(1, 50))
            made.append(task.id)
        q.prune()
    live = {t.id for t in q.tasks()}
    archived = set(_archive_lines(home))
    summary.tasks += len(made)
    summary.duplicated += len(live & archived)
    dropped = set(made) - live - archived  # dropped by the archive's size limit: allowed, but never handed out
    if dropped and not policy.archive_max_mb < 1:
        summary.lost += len(dropped)
        summary.problems.append(f"retention: {len(dropped)} tasks neither live nor archived")
    for tid in archived:
        if q.get(tid) is None:
            summary.lost += 1
            summary.problems.append(f"retention: archived t{tid} not found")
    left = [p.name for p in (home / "logs").iterdir() if int(p.name.split(".")[0]) not in live]
    summary.leftover_logs += len(left)
    again, _ = q.enqueue("shell", {"command": "true"})
    if again.id <= max(made):
        summary.duplicated += 1
        summary.problems.append(f"retention: t{again.id} handed out again")
    q.close()


CLASSES = {
    "lock-replaced": lock_replaced,
    "bit-flips": bit_flips,
    "short-writes": short_writes,
    "poisoned": poisoned,
    "shared-dir": shared_dir,
    "clock-steps": clock_steps,
    "broken-running": broken_running,
    "retention": retention,
}


def run_damage(trials: int, seed: int, log=None):
    """`trials` rounds of every damage class; answers a torture Summary."""
    from .torture import Summary

    total = Summary()
    for i in range(trials):
        for name, fn in CLASSES.items():
            rng = random.Random(seed + 20_000 + i * 31 + len(name))
            one = Summary(trials=1)
            with tempfile.TemporaryDirectory(prefix=f"lq-damage-{name}-") as d:
                try:
                    fn(Path(d) / "home", rng, one)
                except Exception as exc:  # noqa: BLE001 - a crash of a class is a finding, not the end
                    one.problems.append(f"{name}: {exc!r}")
                    one.stuck += 1
            one.classes = {name: 1}
            if log is not None:
                log(f"{name}: {one.line()}")
            total.add(one)
    return total
