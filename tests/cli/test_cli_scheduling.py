"""Scheduling through the real CLI: caps, order, dedupe races, delay, expiry, after, then."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from lazyqueue.core.models import parse_iso

from .helpers import add, ledger_lines, lq, max_overlap, run_until_idle, task, tasks, wait_for


def _stamp_cmd(ledger, name: str, seconds: float) -> list[str]:
    """A command that records its start and end time in a ledger."""
    script = (
        f"echo start {name} $(date +%s.%N) >> {ledger}; sleep {seconds}; "
        f"echo end {name} $(date +%s.%N) >> {ledger}"
    )
    return ["sh", "-c", script]


def _intervals(ledger) -> dict[str, list[float]]:
    spans: dict[str, list[float]] = {}
    for what, name, stamp in ledger_lines(ledger):
        spans.setdefault(name, [0.0, 0.0])[0 if what == "start" else 1] = float(stamp)
    return spans


def test_global_and_per_kind_caps_hold(cli_env, tmp_path):
    (tmp_path / "config.toml").write_text(
        "[worker]\nconcurrency = 2\n"
        "[kinds.single]\ncommand = ['sh', '-c', '{script}']\nconcurrency = 1\n"
    )
    ledger = tmp_path / "ledger"
    for i in range(5):
        add(cli_env, "shell", "--", *_stamp_cmd(ledger, f"s{i}", 0.3))
    for i in range(3):
        script = _stamp_cmd(ledger, f"k{i}", 0.3)[2]
        add(cli_env, "single", f"script={script}")
    run_until_idle(cli_env)
    spans = _intervals(ledger)
    assert len(spans) == 8
    assert max_overlap([tuple(v) for v in spans.values()]) == 2
    assert max_overlap([tuple(v) for k, v in spans.items() if k.startswith("k")]) == 1
    assert all(t["status"] == "completed" for t in tasks(cli_env))


def test_priority_first_then_fifo(cli_env, tmp_path):
    ledger = tmp_path / "ledger"
    plan = [("a", 5), ("b", 5), ("c", 9), ("d", 1), ("e", 9), ("f", 5)]
    for name, prio in plan:
        add(cli_env, "shell", "--priority", str(prio), "--", "sh", "-c", f"echo {name} >> {ledger}")
    run_until_idle(cli_env, "--concurrency", "1")
    order = [row[0] for row in ledger_lines(ledger)]
    assert order == ["c", "e", "a", "b", "f", "d"]


def test_dedupe_holds_across_eight_racing_processes(cli_env):
    def one(i):
        proc = lq(cli_env, "add", "--json", "shell", "--dedupe", "same-key", "--", "echo", str(i))
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    ids = {r["id"] for r in results}
    assert len(ids) == 1
    assert sum(1 for r in results if not r["deduplicated"]) == 1
    assert len(tasks(cli_env)) == 1


def test_four_processes_adding_forty_each_lose_nothing(cli_env, tmp_path):
    def writer(w):
        got = []
        for i in range(40):
            proc = lq(cli_env, "add", "--json", "shell", "--dedupe", f"w{w}-{i}", "--", "true")
            assert proc.returncode == 0, proc.stderr
            got.append(json.loads(proc.stdout)["id"])
        return got

    worker = subprocess.Popen([sys.executable, "-m", "lazyqueue", "worker", "-q"], env=cli_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with ThreadPoolExecutor(4) as pool:
            acknowledged = [i for ids in pool.map(writer, range(4)) for i in ids]
    finally:
        worker.terminate()
        worker.wait(30)
    assert len(set(acknowledged)) == 160
    listed = {t["id"]: t for t in tasks(cli_env)}
    assert set(acknowledged) <= set(listed)
    assert sorted(t["dedupe_key"] for t in listed.values()) == sorted(f"w{w}-{i}" for w in range(4) for i in range(40))
    assert "Traceback" not in worker.stderr.read()


def test_delay_sets_not_before_and_is_waited_out(cli_env):
    rec = add(cli_env, "shell", "--delay", "1", "--", "true")
    assert rec["not_before"] > rec["created_at"]
    run_until_idle(cli_env)
    done = task(cli_env, rec["id"])
    assert done["status"] == "completed"
    assert done["started_at"] >= rec["not_before"]


def test_expired_when_not_started_in_time(cli_env):
    rec = add(cli_env, "shell", "--expires", "0.2", "--", "true")
    deadline = rec["expires_at"]
    wait_for(lambda: time.time() > parse_iso(deadline), what="expiry time")
    run_until_idle(cli_env)
    done = task(cli_env, rec["id"])
    assert done["status"] == "expired" and done["started_at"] is None


def test_after_waits_for_dependencies_and_fails_when_one_fails(cli_env, tmp_path):
    ledger = tmp_path / "ledger"
    first = add(cli_env, "shell", "--", *_stamp_cmd(ledger, "first", 0.3))
    second = add(cli_env, "shell", "--after", str(first["id"]), "--", *_stamp_cmd(ledger, "second", 0))
    broken = add(cli_env, "shell", "--", "false")
    orphan = add(cli_env, "shell", "--after", str(broken["id"]), "--", "touch", str(tmp_path / "never"))
    run_until_idle(cli_env)
    spans = _intervals(ledger)
    assert spans["second"][0] >= spans["first"][1]
    assert task(cli_env, second["id"])["status"] == "completed"
    blocked = task(cli_env, orphan["id"])
    assert blocked["status"] == "failed"
    assert f"dependency t{broken['id']} did not complete" in blocked["error"]
    assert not (tmp_path / "never").exists()


def test_then_follow_ups_share_the_job_and_dedupe(cli_env, tmp_path):
    (tmp_path / "config.toml").write_text(
        "[kinds.fetch]\ncommand = ['sh', '-c', 'printf \"::result {{\\\"page\\\": \\\"%s\\\"}}\\n\" \"$0\"', '{url}']\n"
        "then = ['evaluate']\n"
        "[kinds.evaluate]\ncommand = ['echo', 'evaluating {url}']\ndedupe = 'evaluate:{url}'\n"
    )
    first = add(cli_env, "fetch", "url=https://example.test/role/1")
    run_until_idle(cli_env)
    listed = tasks(cli_env)
    assert [t["kind"] for t in listed] == ["fetch", "evaluate"]
    follow = listed[1]
    assert follow["job_id"] == first["job_id"]
    assert follow["payload"]["previous_result"] == {"page": "https://example.test/role/1"}
    assert follow["dedupe_key"] == "evaluate:https://example.test/role/1"
    assert follow["status"] == "completed"
