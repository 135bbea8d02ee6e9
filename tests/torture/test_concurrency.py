"""Racing CLI writers and two workers on one task file."""

from __future__ import annotations

import json
import subprocess
import textwrap

from tests.conftest import PYTHON, wait_until

from .helpers import lq, ls_json

ADDER = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from lazyqueue.cli import main

    proc, count, ledger = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    for i in range(count):
        if i % 5 == 0:  # the same key in every process: exactly one task may exist
            args = ["add", "--json", "shell", "--dedupe", f"shared-{i}", "--delay", "3600", "--", "true"]
        else:
            args = ["add", "--json", "shell", "--", "sh", "-c", f"echo p{proc}-{i} >> {ledger}"]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
        rec = json.loads(out.getvalue()) if code == 0 else None
        print(json.dumps({"i": i, "code": code, "err": err.getvalue(),
                          "id": rec and rec["id"], "dedup": rec and rec["deduplicated"]}), flush=True)
    """
)


def test_four_writers_while_a_worker_runs(cli_env, tmp_path, started):
    procs, count = 4, 40
    ledger = tmp_path / "ledger"
    worker = started.lazyqueue(cli_env, "worker", "-q")
    adders = [started.popen([PYTHON, "-c", ADDER, str(p), str(count), str(ledger)], cli_env, text=True)
              for p in range(procs)]
    answers = {}
    for p, proc in enumerate(adders):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        answers[p] = [json.loads(line) for line in out.splitlines()]
    assert all(a["code"] == 0 for rows in answers.values() for a in rows), answers
    tasks = {t["id"]: t for t in ls_json(cli_env)}
    acked = {a["id"] for rows in answers.values() for a in rows}
    assert acked <= set(tasks), f"acknowledged but missing: {sorted(acked - set(tasks))}"
    # every non-deduplicated add is its own task
    unique = [a for rows in answers.values() for a in rows if a["i"] % 5]
    assert len({a["id"] for a in unique}) == len(unique) == procs * count * 4 // 5
    # a dedupe key raced by every process yields exactly one task, and all got its id
    for i in range(0, count, 5):
        key = f"shared-{i}"
        holders = [t for t in tasks.values() if t["dedupe_key"] == key]
        assert len(holders) == 1, (key, holders)
        got = [rows[i] for rows in answers.values()]
        assert {a["id"] for a in got} == {holders[0]["id"]}
        assert sorted(a["dedup"] for a in got) == [False] + [True] * (procs - 1)
    assert worker.poll() is None, "the worker died under racing writers"


TWO_WORKERS_CONFIG = """
[worker]
concurrency = 3

[kinds.slow]
command = ["sh", "-c", "echo s $LAZYQUEUE_TASK_ID slow $(date +%s%N) >> {ledger}; sleep 0.05; echo e $LAZYQUEUE_TASK_ID slow $(date +%s%N) >> {ledger}", "sh", "{n}"]
concurrency = 1

[kinds.fast]
command = ["sh", "-c", "echo s $LAZYQUEUE_TASK_ID fast $(date +%s%N) >> {ledger}; sleep 0.02; echo e $LAZYQUEUE_TASK_ID fast $(date +%s%N) >> {ledger}", "sh", "{n}"]
"""


def sweep(entries):
    """Max tasks running at once, overall and per kind, from (s|e, id, kind, ns) records."""
    events = sorted(entries, key=lambda e: (e[3], 0 if e[0] == "e" else 1))  # ends first on a tie
    running: dict[str, int] = {}
    peak_total, peak_kind = 0, {}
    for what, _tid, kind, _ns in events:
        running[kind] = running.get(kind, 0) + (1 if what == "s" else -1)
        peak_total = max(peak_total, sum(running.values()))
        peak_kind[kind] = max(peak_kind.get(kind, 0), running[kind])
    return peak_total, peak_kind


def test_two_workers_share_caps_and_never_run_a_task_twice(cli_env, tmp_path, started):
    ledger = tmp_path / "ledger"
    config = tmp_path / "config.toml"
    config.write_text(TWO_WORKERS_CONFIG)  # {ledger} and {n} are filled from each task's fields
    outs = [tmp_path / f"worker-{i}.out" for i in range(2)]
    workers = []
    for out in outs:
        with open(out, "w") as fh:
            workers.append(started.lazyqueue(cli_env, "worker", "--concurrency", "3", stdout=fh, stderr=subprocess.STDOUT))
    # small batches while both workers run, so both find work; plus racing dedupe adds
    expected = 0
    for batch in range(8):
        for kind, count in (("slow", 2), ("fast", 8)):
            src = tmp_path / f"{kind}-{batch}.txt"
            src.write_text("".join(f"ledger={ledger} n={batch}-{i}\n" for i in range(count)))
            proc = lq(cli_env, "add", kind, "--from", str(src))
            assert proc.returncode == 0, proc.stderr
            expected += count
    adds = [started.lazyqueue(cli_env, "add", "--json", "slow", f"ledger={ledger}", "n=dup", "--dedupe", "dup-key",
                              "--delay", "0.5", text=True) for _ in range(3)]
    answers = [p.communicate(timeout=120) for p in adds]
    assert all(p.returncode == 0 for p in adds), [err for _out, err in answers]
    dup_ids = {json.loads(out)["id"] for out, _err in answers}
    assert len(dup_ids) == 1, f"racing adds with one dedupe key made {len(dup_ids)} tasks"
    expected += 1

    def all_done():
        tasks = ls_json(cli_env)
        return tasks if len(tasks) == expected and {t["status"] for t in tasks} == {"completed"} else None

    tasks = wait_until(all_done, timeout=120, message="every task completed")
    for w in workers:
        w.terminate()
        w.wait(30)
    entries = []
    for line in ledger.read_text().splitlines():
        what, tid, kind, ns = line.split()
        entries.append((what, int(tid), kind, int(ns)))
    starts = {}
    for what, tid, _kind, _ns in entries:
        if what == "s":
            starts[tid] = starts.get(tid, 0) + 1
    assert sorted(starts) == sorted(t["id"] for t in tasks), "every task ran"
    assert set(starts.values()) == {1}, f"ran more than once: {[t for t, c in starts.items() if c > 1]}"
    peak_total, peak_kind = sweep(entries)
    assert peak_total <= 3, f"{peak_total} tasks ran at once across two workers (global cap 3)"
    assert peak_kind.get("slow", 0) <= 1, f"{peak_kind['slow']} slow tasks at once (kind cap 1)"
    said = [[int(line.split()[1][1:]) for line in out.read_text().splitlines() if line.split()[2:3] == ["running"]]
            for out in outs]
    assert not set(said[0]) & set(said[1]), "a task started by both workers"
    assert sorted(said[0] + said[1]) == sorted(starts)
    print(f"\ntwo workers: {len(tasks)} tasks ({len(said[0])} + {len(said[1])} started by each), "
          f"peak {peak_total} running (cap 3), slow peak {peak_kind.get('slow')} (cap 1)")


def test_dedupe_holds_after_the_journal_is_folded_into_the_snapshot(cli_env, home):
    """`add` looked a key's task up in the snapshot by its id line, and found the job with that id first."""
    first = json.loads(lq(cli_env, "add", "--json", "shell", "--dedupe", "k", "--", "sleep", "100").stdout)
    assert lq(cli_env, "prune").returncode == 0  # the queued task now lives in tasks.json only
    again = json.loads(lq(cli_env, "add", "--json", "shell", "--dedupe", "k", "--", "sleep", "100").stdout)
    assert (again["id"], again["deduplicated"]) == (first["id"], True)
    assert [t["id"] for t in ls_json(cli_env)] == [first["id"]]
