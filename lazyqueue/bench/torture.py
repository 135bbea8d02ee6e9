"""Crash torture: kill -9 the worker and CLI writers at random moments, recover, check.

    python -m lazyqueue.bench.torture                  # 50 trials (LAZYQUEUE_TORTURE_TRIALS)
    python -m lazyqueue.bench.torture --trials 5 --tasks 200 --seed 1
    python -m lazyqueue.bench.torture --trials 20 --chaos 12     # plus random-operation trials
    python -m lazyqueue.bench.torture --trials 0 --damage 3      # only the damage classes (see bench/damage.py)

One trial, on a fresh state directory:
  1. `lazyqueue add shell --from FILE --json` batches of shell tasks (most with
     many attempts, some with one); one more batch is written by an `add`
     that is killed -9 at a random moment (all of it lands, or none).
  2. `lazyqueue worker` runs them and is killed -9 at a random moment; the
     file state right after the kill is recorded; again, a few times. The
     commands outlive each kill, so every next worker adopts them (and may be
     killed while it does).
  3. `lazyqueue worker --exit-when-idle` recovers and finishes everything.
Each task's command appends `s ID PID` and `e ID PID` to a ledger file
(`$LAZYQUEUE_TASK_ID` comes from the worker), so runs can be counted.

After every trial:
  - the task file parses (`lazyqueue ls --json` exits 0);
  - every acknowledged task is there (lost);
  - nothing is running or queued after recovery (stuck);
  - no completed task ran again, no task ran more often than it was claimed
    or interrupted, no two runs of one task overlapped (duplicated);
  - no attempt was spent on an interruption: the commands never fail, so every
    completed task took exactly one attempt (spent);
  - every task ended completed or failed "interrupted N times" (bad_end);
  - a killed `add --from` batch is all there or not at all (torn).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PYTHON = sys.executable


@dataclass
class Summary:
    trials: int = 0
    tasks: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    bad_end: int = 0
    torn: int = 0
    spent: int = 0
    kills: int = 0
    silently_changed: int = 0
    misfired: int = 0  # a timeout that fired at a clock step, or not when its time had passed
    leftover_logs: int = 0  # logs of tasks no longer live, left after prune
    problems: list = field(default_factory=list)
    classes: dict = field(default_factory=dict)  # damage class -> trials run

    def add(self, other: "Summary") -> None:
        for name in ("trials", "tasks", "lost", "duplicated", "stuck", "bad_end", "torn", "spent", "kills",
                     "silently_changed", "misfired", "leftover_logs"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems += other.problems
        for name, n in other.classes.items():
            self.classes[name] = self.classes.get(name, 0) + n

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.stuck or self.bad_end or self.torn or self.silently_changed
                    or self.spent or self.misfired or self.leftover_logs)

    def line(self) -> str:
        text = (f"torture: trials={self.trials} tasks={self.tasks} kills={self.kills} lost={self.lost} "
                f"duplicated={self.duplicated} stuck={self.stuck} silently_changed={self.silently_changed} "
                f"bad_end={self.bad_end} torn={self.torn} attempts_spent_on_interruptions={self.spent} "
                f"misfired={self.misfired} leftover_logs={self.leftover_logs}")
        if self.classes:
            text += " damage=" + ",".join(f"{name}:{n}" for name, n in self.classes.items())
        return text


class Procs:
    """Every process a trial starts, so all of them die even when a check fails."""

    def __init__(self, home: Path):
        self.home = home
        self.started: list[subprocess.Popen] = []

    def popen(self, argv, env, **kw) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=env, start_new_session=True, **kw)
        self.started.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait()
        kill_strays(self.home)


def kill_strays(home: Path) -> int:
    """Kill commands a killed worker left running (they run in their own sessions).

    They are found by the state directory in their environment, and killed by pid.
    """
    marker = f"LAZYQUEUE_HOME={home}".encode()
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            continue
        if marker in env:
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed


def cli_env(home: Path, config: Path) -> dict:
    env = dict(os.environ)
    env["LAZYQUEUE_HOME"] = str(home)
    env["LAZYQUEUE_CONFIG"] = str(config)
    env["NO_COLOR"] = "1"
    env["LAZYQUEUE_AUTOSTART"] = "0"  # the trials start (and kill) their own workers
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def lq(env: dict, *args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "lazyqueue", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, input=input)


def ls_json(env: dict) -> list[dict]:
    proc = lq(env, "ls", "--json")
    if proc.returncode != 0:
        raise AssertionError(f"ls --json failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def read_ledger(path: Path) -> list[tuple[str, int, int]]:
    """[(event 's'|'e', task id, pid)] in the order they were written."""
    out = []
    try:
        text = path.read_text()
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in ("s", "e") and parts[1].isdigit() and parts[2].isdigit():
            out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


def task_command(ledger: Path, sleep_s: float) -> str:
    return (f'echo "s $LAZYQUEUE_TASK_ID $$" >> {ledger}; sleep {sleep_s:.3f}; '
            f'echo "e $LAZYQUEUE_TASK_ID $$" >> {ledger}')


def overlapping_runs(ledger: list[tuple[str, int, int]]) -> set[int]:
    """Ids with two runs at once: a run's end comes after another run of it started."""
    open_runs: dict[int, list[int]] = {}
    bad: set[int] = set()
    for event, tid, pid in ledger:
        runs = open_runs.setdefault(tid, [])
        if event == "s":
            runs.append(pid)
        elif pid in runs:
            if runs[-1] != pid:  # a later run of the same task started before this one ended
                bad.add(tid)
            runs.remove(pid)
    return bad


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def run_trial(workdir: Path, n_tasks: int = 200, rng: random.Random | None = None,
              worker_kills: int = 2, concurrency: int = 4, log=None) -> Summary:
    """One trial in `workdir` (fresh); returns its counts (problems described in .problems)."""
    rng = rng or random.Random()
    home = workdir / "home"
    config = workdir / "config.toml"
    config.write_text("")
    ledger = workdir / "ledger"
    env = cli_env(home, config)
    procs = Procs(home)
    summary = Summary(trials=1)
    problems = summary.problems
    acknowledged: set[int] = set()
    try:
        # 1. acknowledged batches: most tasks may be re-queued, some have one attempt
        one_shot = max(1, n_tasks // 4)
        batches = [(n_tasks - one_shot, "20"), (one_shot, "1")]
        for size, attempts in batches:
            lines = [task_command(ledger, rng.choice((0.01, 0.02, 0.05, 0.1, 0.3))) for _ in range(size)]
            src = workdir / f"batch-{attempts}.txt"
            src.write_text("\n".join(lines) + "\n")
            proc = lq(env, "add", "shell", "--from", str(src), "--max-attempts", attempts, "--json")
            if proc.returncode != 0:
                raise AssertionError(f"add --from failed: {proc.stderr.strip()}")
            acknowledged |= {rec["id"] for rec in json.loads(proc.stdout)}
        # writers killed mid `add --from`: all of a batch or none of it
        killed_batches: list[tuple[str, int, bool]] = []  # (tag, size, acknowledged)

        def start_writer(tag: str, size: int) -> subprocess.Popen:
            src = workdir / f"{tag}.txt"
            src.write_text("\n".join(f"echo {tag} {i}" for i in range(size)) + "\n")
            return procs.popen([PYTHON, "-m", "lazyqueue", "add", "shell", "--from", str(src), "--json"], env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def kill_writer(writer: subprocess.Popen, tag: str, size: int) -> None:
            writer.send_signal(signal.SIGKILL)
            out, _err = writer.communicate()
            summary.kills += 1
            acked = writer.returncode == 0
            if acked:
                acknowledged.update(rec["id"] for rec in json.loads(out))
            killed_batches.append((tag, size, acked))

        writer = start_writer("killed-batch-0", 50)
        time.sleep(rng.uniform(0.0, 0.4))  # the random moment of the kill
        kill_writer(writer, "killed-batch-0", 50)

        # 2. run, kill -9 at a random moment, look at the file, again
        completed_at_kill: set[int] = set()
        printed = ""  # what the workers said, in order: "✓ t12 completed", "▶ t12 running"
        for k in range(worker_kills):
            worker = procs.popen([PYTHON, "-m", "lazyqueue", "worker", "--concurrency", str(concurrency)], env,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            # wait until it really runs something, then pick the moment
            wait_for(lambda: read_ledger(ledger) or worker.poll() is not None, 60, "the worker to start a task")
            # meanwhile a writer and a `prune` (snapshot rewrite) are killed at random moments too
            tag = f"killed-batch-{k + 1}"
            writer = start_writer(tag, 20)
            pruner = procs.popen([PYTHON, "-m", "lazyqueue", "prune"], env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            moments = sorted(rng.uniform(0.0, 1.5) for _ in range(3))
            t0 = time.monotonic()
            time.sleep(moments[0])
            kill_writer(writer, tag, 20)
            time.sleep(max(0.0, moments[1] - (time.monotonic() - t0)))
            pruner.send_signal(signal.SIGKILL)
            pruner.wait()
            summary.kills += 1
            time.sleep(max(0.0, moments[2] - (time.monotonic() - t0)))
            worker.send_signal(signal.SIGKILL)
            printed += worker.communicate()[0]
            summary.kills += 1
            state = ls_json(env)
            completed_at_kill |= {t["id"] for t in state if t["status"] == "completed"}
        mark = len(read_ledger(ledger))

        # 3. recover and finish
        try:
            proc = lq(env, "worker", "--exit-when-idle", "--concurrency", str(concurrency), timeout=300)
        except subprocess.TimeoutExpired:
            summary.stuck += 1
            problems.append("worker --exit-when-idle did not exit within 300 s")
        else:
            printed += proc.stdout
            if proc.returncode != 0:
                summary.bad_end += 1
                problems.append(f"recovery worker exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
        kill_strays(home)
        final = ls_json(env)
        entries = read_ledger(ledger)
    finally:
        procs.kill_all()

    by_id = {t["id"]: t for t in final}
    summary.tasks = len(by_id)
    lost = acknowledged - set(by_id)
    if lost:
        summary.lost += len(lost)
        problems.append(f"lost acknowledged tasks: {sorted(lost)[:10]}")
    for tag, size, acked in killed_batches:
        batch = [t for t in final if str(t["payload"].get("command", "")).startswith(f"echo {tag} ")]
        if len(batch) not in (0, size) or (acked and len(batch) != size):
            summary.torn += 1
            problems.append(f"killed add --from left {len(batch)} of {size} tasks (acknowledged={acked})")
    for t in final:
        if t["status"] in ("running", "queued"):
            summary.stuck += 1
            problems.append(f"t{t['id']} still {t['status']} after recovery")
        elif t["status"] == "completed" and t["attempt"] != 1:
            summary.spent += 1
            problems.append(f"t{t['id']} completed at attempt {t['attempt']}: an interruption spent an attempt")
        elif t["status"] == "failed" and not (t.get("error") or "").startswith("interrupted"):
            summary.bad_end += 1
            problems.append(f"t{t['id']} failed: {t.get('error')!r}")
        elif t["status"] not in ("completed", "failed"):
            summary.bad_end += 1
            problems.append(f"t{t['id']} ended {t['status']}")
    starts: dict[int, int] = {}
    for event, tid, _pid in entries:
        if event == "s":
            starts[tid] = starts.get(tid, 0) + 1
    dup: set[int] = set()
    for tid, count in starts.items():
        task = by_id.get(tid)
        interruptions = int((task or {}).get("meta", {}).get("interruptions", 0)) if task is not None else 0
        if task is not None and count > task["attempt"] + interruptions:
            dup.add(tid)
            problems.append(f"t{tid} ran {count} times in {task['attempt']} attempt(s) and {interruptions} interruption(s)")
    rerun = {tid for event, tid, _ in entries[mark:] if event == "s" and tid in completed_at_kill}
    done_said: set[int] = set()
    for line in printed.splitlines():  # a worker said it completed, then one started it again
        parts = line.split()
        if len(parts) >= 3 and parts[1].startswith("t") and parts[1][1:].isdigit():
            tid = int(parts[1][1:])
            if parts[2] == "completed":
                done_said.add(tid)
            elif parts[2] == "running" and tid in done_said:
                rerun.add(tid)
    overlap = overlapping_runs(entries)
    for tid in sorted(rerun):
        problems.append(f"t{tid} was completed, then ran again")
    for tid in sorted(overlap):
        problems.append(f"t{tid} ran twice at once")
    summary.duplicated += len(dup | rerun | overlap)
    if log is not None:
        log(summary.line() + ("" if summary.ok else "  " + "; ".join(problems[:5])))
    return summary


def archived_ids(home: Path) -> set[int]:
    ids = set()
    try:
        with open(home / "archive.jsonl", "rb") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("type") == "task":
                    ids.add(entry["record"]["id"])
    except FileNotFoundError:
        pass
    return ids


def run_chaos(workdir: Path, seconds: float = 10.0, rng: random.Random | None = None, cap: int = 3,
              log=None) -> Summary:
    """Random operations racing a worker that is started, killed -9 and stopped, then recovery.

    Operations: add, add with one of 3 dedupe keys, add --after, cancel, retry --failed,
    prune, start a worker, kill it (-9 or TERM), look at the file. Every look checks that
    at most `cap` tasks run and at most one active task holds a dedupe key.
    """
    rng = rng or random.Random()
    home = workdir / "home"
    config = workdir / "config.toml"
    config.write_text(f"[worker]\nconcurrency = {cap}\n")
    ledger = workdir / "ledger"
    env = cli_env(home, config)
    procs = Procs(home)
    summary = Summary(trials=1)
    problems = summary.problems
    ids: list[int] = []

    def check_cli(what: str, proc: subprocess.CompletedProcess, codes=(0,)) -> bool:
        if proc.returncode not in codes or "Traceback" in proc.stderr:
            problems.append(f"{what} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
            summary.bad_end += 1
            return False
        return proc.returncode == 0

    def add(*args: str) -> None:
        proc = lq(env, "add", "--json", "shell", *args, "--", "sh", "-c",
                  task_command(ledger, rng.choice((0.05, 0.2, 0.5))))
        if check_cli("add " + " ".join(args), proc, codes=(0, 1)):
            ids.append(json.loads(proc.stdout)["id"])

    worker = None
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            op = rng.choice(("add", "add", "dedupe", "after", "cancel", "retry", "prune", "worker", "kill", "look"))
            if op == "add":
                add("--max-attempts", rng.choice(("1", "3")))
            elif op == "dedupe":
                add("--dedupe", f"k{rng.randrange(3)}")
            elif op == "after" and ids:
                add("--after", str(rng.choice(ids)))
            elif op == "cancel" and ids:
                check_cli("cancel", lq(env, "cancel", str(rng.choice(ids))), codes=(0, 1))
            elif op == "retry":
                check_cli("retry --failed", lq(env, "retry", "--failed"), codes=(0, 1))
            elif op == "prune":
                check_cli("prune", lq(env, "prune"))
            elif op == "worker" and (worker is None or worker.poll() is not None):
                worker = procs.popen([PYTHON, "-m", "lazyqueue", "worker", "-q"], env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            elif op == "kill" and worker is not None and worker.poll() is None:
                worker.send_signal(rng.choice((signal.SIGKILL, signal.SIGTERM)))
                worker.wait(60)
                summary.kills += 1
            elif op == "look":
                tasks = ls_json(env)
                running = [t["id"] for t in tasks if t["status"] == "running"]
                if len(running) > cap:
                    summary.duplicated += 1
                    problems.append(f"{len(running)} running at once (cap {cap}): {running}")
                holders: dict[str, list[int]] = {}
                for t in tasks:
                    if t["dedupe_key"] and t["status"] in ("queued", "running"):
                        holders.setdefault(t["dedupe_key"], []).append(t["id"])
                for key, held in holders.items():
                    if len(held) > 1:
                        summary.duplicated += 1
                        problems.append(f"dedupe key {key} held by {held} at once")
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            summary.kills += 1
        try:
            check_cli("recovery worker", lq(env, "worker", "--exit-when-idle", "-q", timeout=120))
        except subprocess.TimeoutExpired:
            summary.stuck += 1
            problems.append("worker --exit-when-idle did not exit within 120 s")
        kill_strays(home)
        final = ls_json(env)
    finally:
        procs.kill_all()
    by_id = {t["id"]: t for t in final}
    summary.tasks = len(set(ids))
    lost = set(ids) - set(by_id) - archived_ids(home)
    if lost:
        summary.lost += len(lost)
        problems.append(f"lost acknowledged tasks: {sorted(lost)[:10]}")
    for t in final:
        if t["status"] in ("running", "queued"):
            summary.stuck += 1
            problems.append(f"t{t['id']} still {t['status']} after recovery")
    for tid in sorted(overlapping_runs(read_ledger(ledger))):
        summary.duplicated += 1
        problems.append(f"t{tid} ran twice at once")
    if log is not None:
        log(summary.line() + ("" if summary.ok else "  " + "; ".join(problems[:5])))
    return summary


def run_trials(trials: int, n_tasks: int = 200, seed: int | None = None, log=None, keep: bool = False) -> Summary:
    total = Summary()
    seed = random.randrange(1 << 30) if seed is None else seed
    for i in range(trials):
        rng = random.Random(seed + i)
        with tempfile.TemporaryDirectory(prefix=f"lq-torture-{i}-") as d:
            total.add(run_trial(Path(d), n_tasks, rng, log=log))
    return total


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lazyqueue.bench.torture", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=int(os.environ.get("LAZYQUEUE_TORTURE_TRIALS", "50")))
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--chaos", type=float, default=0.0, metavar="S",
                        help="also run random-operation trials (add, dedupe, after, cancel, retry, prune, kill) of S seconds each")
    parser.add_argument("--damage", type=int, default=1, metavar="N",
                        help="rounds of the damage classes (lock replaced, bit flips, short writes, poisoned fields, shared dir, "
                             "clock steps, broken running records, retention); 0: none")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: every started process is killed
    seed = random.randrange(1 << 30) if args.seed is None else args.seed
    print(f"torture: {args.trials} trials of {args.tasks} tasks, seed {seed}", flush=True)
    total = run_trials(args.trials, args.tasks, seed, log=lambda line: print("  " + line, flush=True))
    if args.chaos:
        for i in range(args.trials):
            with tempfile.TemporaryDirectory(prefix=f"lq-chaos-{i}-") as d:
                total.add(run_chaos(Path(d), args.chaos, random.Random(seed + 10_000 + i),
                                    log=lambda line: print("  chaos " + line, flush=True)))
    if args.damage:
        from .damage import run_damage

        total.add(run_damage(args.damage, seed, log=lambda line: print("  damage " + line, flush=True)))
    print(total.line())
    for problem in total.problems[:50]:
        print("  " + problem)
    return 0 if total.ok else 1


if __name__ == "__main__":
    sys.exit(main())
