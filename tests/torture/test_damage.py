"""Damaged task files, huge payloads, non-UTF-8 output: clear errors, nothing lost.

A damaged file is moved aside (byte for byte what was there), the user is
told where in one line, whole records are recovered, and ids keep increasing.
"""

from __future__ import annotations

import json

import pytest

from lazyqueue.core.config import Config
from lazyqueue import Queue
from lazyqueue.core.taskfile import journal_entries

from .helpers import lq, ls_json


def seeded(env, home, n=4) -> list[dict]:
    """n tasks folded into a snapshot (tasks.json), with an empty journal."""
    recs = [json.loads(lq(env, "add", "--json", "shell", "--", "echo", str(i)).stdout) for i in range(n)]
    assert lq(env, "prune").returncode == 0
    assert (home / "tasks.journal").read_bytes() == b""
    return recs


def moved_aside(home, why):
    found = sorted(p for p in home.iterdir() if p.name.startswith(f"tasks.json.{why}-"))
    assert len(found) == 1, [p.name for p in home.iterdir()]
    return found[0]


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("lazyqueue: warning:")]


def damage_truncate(raw: bytes) -> bytes:
    return raw[: len(raw) * 2 // 3]


def damage_garbage(raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    lines[-4] = b"\x00\xff{not json" + lines[-4][10:]  # the second-to-last task record
    return b"\n".join(lines)


@pytest.mark.parametrize("damage, lost_at_most", [(damage_truncate, 2), (damage_garbage, 1)], ids=["truncated", "corrupt"])
def test_a_damaged_snapshot_is_moved_aside_and_its_whole_records_recovered(cli_env, home, damage, lost_at_most):
    recs = seeded(cli_env, home)
    raw = (home / "tasks.json").read_bytes()
    bad = damage(raw)
    (home / "tasks.json").write_bytes(bad)
    proc = lq(cli_env, "ls", "--json")
    assert proc.returncode == 0, proc.stderr
    told = warnings(proc.stderr)
    assert len(told) == 1 and "moved it to" in told[0] and "recovered" in told[0], proc.stderr
    aside = moved_aside(home, "corrupt")
    assert str(aside) in told[0]
    assert aside.read_bytes() == bad, "the damaged file was changed, not just moved"
    got = {t["id"] for t in json.loads(proc.stdout)}
    assert got <= {r["id"] for r in recs}
    assert len(recs) - len(got) <= lost_at_most
    new = json.loads(lq(cli_env, "add", "--json", "shell", "--", "echo", "new").stdout)
    assert new["id"] > max(r["id"] for r in recs), "an id was handed out twice"
    again = lq(cli_env, "ls", "--json")
    assert again.returncode == 0 and not warnings(again.stderr), again.stderr  # told once
    assert aside.read_bytes() == bad


@pytest.mark.parametrize("content, problem", [
    (b"[1, 2, 3]\n", "is not a JSON object"),
    (b'"tasks"\n', "is not a JSON object"),
    (b'{"version": 1, "tasks": [{"id": 1, "kind": "shell", "status": 7}], "jobs": []}\n', "malformed record"),
    (b'{"version": 1, "tasks": [{"id": "one", "kind": "shell"}], "jobs": []}\n', "malformed record"),
    (b'{"version": 1, "tasks": {"id": 1}, "jobs": []}\n', "malformed record"),
    (b"", "does not parse"),
], ids=["array", "string", "bad-status", "bad-id", "tasks-not-a-list", "empty"])
def test_a_wrong_type_task_file_is_moved_aside_with_a_clear_error(cli_env, home, content, problem):
    home.mkdir(parents=True, exist_ok=True)
    (home / "tasks.json").write_bytes(content)
    proc = lq(cli_env, "ls", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    told = warnings(proc.stderr)
    assert len(told) == 1 and problem in told[0], proc.stderr
    assert moved_aside(home, "corrupt").read_bytes() == content
    assert json.loads(proc.stdout) == []
    assert lq(cli_env, "add", "shell", "--", "true").returncode == 0


def test_a_future_version_file_is_kept_aside_and_ids_stay_monotonic(cli_env, home):
    recs = seeded(cli_env, home, n=3)
    lq(cli_env, "add", "shell", "--", "echo", "in the journal")  # a journal line too
    data = json.loads((home / "tasks.json").read_bytes())
    data["version"] = 99
    future = json.dumps(data).encode()
    (home / "tasks.json").write_bytes(future)
    journal = (home / "tasks.journal").read_bytes()
    proc = lq(cli_env, "add", "--json", "shell", "--", "echo", "after")
    assert proc.returncode == 0, proc.stderr
    told = warnings(proc.stderr)
    assert len(told) == 1 and "schema version 99" in told[0], proc.stderr
    assert moved_aside(home, "unknown-version").read_bytes() == future
    kept = [p for p in home.iterdir() if p.name.startswith("tasks.journal.unknown-version-")]
    assert len(kept) == 1 and kept[0].read_bytes() == journal
    new = json.loads(proc.stdout)
    assert new["id"] > max(r["id"] for r in recs) + 1, "an id of the file set aside was handed out again"
    assert [t["id"] for t in ls_json(cli_env)] == [new["id"]]


def test_a_damaged_journal_line_is_skipped_and_copied_aside(cli_env, home):
    recs = seeded(cli_env, home, n=2)
    more = [json.loads(lq(cli_env, "add", "--json", "shell", "--", "echo", str(i)).stdout) for i in range(3)]
    lines = (home / "tasks.journal").read_bytes().split(b"\n")
    lines[1] = b'{"seq": 9, "tasks": [{"id": \xff\xfe'  # the middle entry
    bad = b"\n".join(lines)
    (home / "tasks.journal").write_bytes(bad)
    proc = lq(cli_env, "ls", "--json")
    assert proc.returncode == 0, proc.stderr
    told = warnings(proc.stderr)
    assert len(told) == 1 and "damaged line" in told[0], proc.stderr
    copies = [p for p in home.iterdir() if p.name.startswith("tasks.journal.damaged-")]
    assert len(copies) == 1 and copies[0].read_bytes() == bad
    got = {t["id"] for t in json.loads(proc.stdout)}
    assert got == {r["id"] for r in recs} | {more[0]["id"], more[2]["id"]}
    new = json.loads(lq(cli_env, "add", "--json", "shell", "--", "true").stdout)
    assert new["id"] > more[-1]["id"]


def test_a_torn_journal_tail_is_ignored_and_cut_before_the_next_append(cli_env, home):
    recs = seeded(cli_env, home, n=2)
    with open(home / "tasks.journal", "ab") as fh:
        fh.write(b'{"seq": 99, "tasks": [{"id": 3, "ki')  # a writer died mid-line
    proc = lq(cli_env, "ls", "--json")
    assert proc.returncode == 0 and not warnings(proc.stderr), proc.stderr
    assert [t["id"] for t in json.loads(proc.stdout)] == [r["id"] for r in recs]
    new = json.loads(lq(cli_env, "add", "--json", "shell", "--", "true").stdout)
    assert [t["id"] for t in ls_json(cli_env)] == [r["id"] for r in recs] + [new["id"]]
    journal_entries(home / "tasks.journal")  # every line whole


def test_a_5mb_payload_round_trips_through_the_worker_a_snapshot_and_the_cli(cli_env, home):
    blob = "x" * (5 * 1024 * 1024 - 7) + "é€😀end"
    q = Queue(home, config=Config())
    q.kind("blob")(lambda ctx: {"len": len(ctx.payload["blob"])})
    try:
        task, _ = q.enqueue("blob", {"blob": blob})
        q.start_worker()
        done = q.wait([task.id], timeout=60)[0]
        assert (done.status, done.result) == ("completed", {"len": len(blob)})
    finally:
        q.close()
    # 5 MB is past the journal's fold threshold: the record went into a new snapshot
    assert blob in (home / "tasks.json").read_text(encoding="utf-8")
    tasks = {t["id"]: t for t in ls_json(cli_env)}
    assert tasks[task.id]["payload"]["blob"] == blob and tasks[task.id]["status"] == "completed"
    shown = json.loads(lq(cli_env, "show", str(task.id), "--json").stdout)
    assert shown["payload"]["blob"] == blob


def test_a_5mb_value_through_add_from_a_file_and_a_worker(cli_env, home, tmp_path):
    """`add KIND --from` split lines with shlex (quadratic): a 5 MB key=value line took ~30 min."""
    config = tmp_path / "config.toml"
    config.write_text('[kinds.big]\ncommand = ["true"]\nfields = ["blob"]\n')
    blob = "z" * (5 * 1024 * 1024 - 3) + "é€"
    src = tmp_path / "big.txt"
    src.write_text(f"blob={blob}\n", encoding="utf-8")
    proc = lq(cli_env, "add", "big", "--from", str(src), "--json", timeout=30)
    assert proc.returncode == 0, proc.stderr
    tid = json.loads(proc.stdout)[0]["id"]
    proc = lq(cli_env, "worker", "--exit-when-idle", "-q")
    assert proc.returncode == 0, proc.stderr
    task = json.loads(lq(cli_env, "show", str(tid), "--json").stdout)
    assert (task["status"], task["payload"]["blob"]) == ("completed", blob)


def test_a_5mb_shell_command_is_refused_at_add_with_a_clear_error(cli_env, home, tmp_path):
    src = tmp_path / "huge.txt"
    src.write_text("true # " + "y" * (5 * 1024 * 1024) + "\n")
    proc = lq(cli_env, "add", "shell", "--from", str(src), "--json")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "longer than 128 KiB cannot be run" in proc.stderr
    assert json.loads(lq(cli_env, "ls", "--json").stdout) == []


def test_non_utf8_command_output_is_kept_readable(cli_env, home):
    script = r"printf 'caf\351 \377\376\n::progress 50 \377half\n::result {\"ok\": 1}\n'; printf 'tail \200\201\n'; exit 3"
    tid = json.loads(lq(cli_env, "add", "--json", "shell", "--", "sh", "-c", script).stdout)["id"]
    ok = json.loads(lq(cli_env, "add", "--json", "shell", "--", "sh", "-c", r"printf '\377\376 fine\n'").stdout)["id"]
    proc = lq(cli_env, "worker", "--exit-when-idle", "-q")
    assert proc.returncode == 0, proc.stderr
    tasks = {t["id"]: t for t in ls_json(cli_env)}
    failed = tasks[tid]
    assert failed["status"] == "failed"
    assert "exit code 3" in failed["error"] and "tail \ufffd\ufffd" in failed["error"]
    assert tasks[ok]["status"] == "completed"
    log = lq(cli_env, "log", str(tid))
    assert log.returncode == 0 and "caf\ufffd" in log.stdout
    shown = lq(cli_env, "show", str(tid))
    assert shown.returncode == 0 and "exit code 3" in shown.stdout
