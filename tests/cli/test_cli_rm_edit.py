"""`lazyqueue rm ID… | #JOB` and `lazyqueue edit ID`, through the real command."""

from __future__ import annotations

import json
import signal
import sys

from .helpers import add, lq, ok, start_worker, stop, task, tasks, wait_for


def _one_line(proc, code: int, *texts: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    for text in texts:
        assert text in proc.stderr, proc.stderr


# ---------------------------------------------------------------- rm
def test_rm_removes_finished_and_queued_tasks_and_the_jobs_they_leave_empty(cli_env, isolated_home):
    done = add(cli_env, "shell", "--", "true")
    ok(cli_env, "worker", "--exit-when-idle", "-q")
    queued = add(cli_env, "shell", "--delay", "600", "--", "echo", "later")
    out = ok(cli_env, "rm", str(done["id"]), f"t{queued['id']}", "--yes").stdout
    assert out.splitlines() == [f"removed t{done['id']}: true", f"removed t{queued['id']}: echo later"]
    assert tasks(cli_env) == []
    assert lq(cli_env, "show", f"#{done['job_id']}").returncode == 1  # its job went with it
    archived = [json.loads(line) for line in (isolated_home / "archive.jsonl").read_text().splitlines()]
    assert {(rec["record"]["id"], rec["reason"]) for rec in archived if rec["type"] == "task"} == {(done["id"], "deleted"), (queued["id"], "deleted")}
    again = lq(cli_env, "rm", str(done["id"]))
    _one_line(again, 1, f"t{done['id']} is in the archive already")
    _one_line(lq(cli_env, "rm", "99"), 1, "no task t99")
    new = add(cli_env, "shell", "--", "true")
    assert new["id"] > queued["id"]  # a removed id is never handed out again


def test_rm_of_more_than_one_task_needs_yes_when_it_cannot_ask(cli_env):
    first = add(cli_env, "shell", "--delay", "600", "--", "true")
    job = first["job_id"]
    add(cli_env, "shell", "--delay", "600", "--job", str(job), "--", "false")
    proc = lq(cli_env, "rm", f"#{job}", input="")
    _one_line(proc, 2, "rm would remove 2 tasks", "add --yes")
    assert len(tasks(cli_env)) == 2
    out = ok(cli_env, "rm", f"#{job:03d}", "-y").stdout
    assert out.splitlines()[-1].startswith(f"removed #{job:03d}")
    assert tasks(cli_env) == [] and lq(cli_env, "show", f"#{job}").returncode == 1


def test_rm_cancels_a_running_task_first(cli_env):
    rec = add(cli_env, "shell", "--", "sleep", "60")
    worker = start_worker(cli_env)
    try:
        wait_for(lambda: task(cli_env, rec["id"])["status"] == "running", what="the task to start")
        assert ok(cli_env, "rm", str(rec["id"])).stdout == f"cancelled and removed t{rec['id']}: sleep 60\n"
        assert tasks(cli_env) == []
        wait_for(lambda: json.loads(ok(cli_env, "worker", "status", "--json").stdout)["running"] == 0,
                 what="the worker to stop the removed command")
    finally:
        stop(worker, signal.SIGTERM)


# ---------------------------------------------------------------- edit
def _editor(tmp_path, body: str, code: int = 0) -> str:
    """An $EDITOR that runs `body` (Python, with the file's text as `text`) on the file it is given."""
    script = tmp_path / f"editor{len(list(tmp_path.glob('editor*.py')))}.py"
    script.write_text("import sys, pathlib\np = pathlib.Path(sys.argv[1])\ntext = p.read_text()\n"
                      f"{body}\np.write_text(text)\nsys.exit({code})\n")
    return f"{sys.executable} {script}"


def test_edit_changes_command_priority_start_and_dedupe_key(cli_env, tmp_path):
    rec = add(cli_env, "shell", "--delay", "600", "--", "echo", "old")
    cli_env["EDITOR"] = _editor(tmp_path, "\n".join([
        "text = text.replace('argv = [\"echo\", \"old\"]', 'argv = [\"echo\", \"new\"]')",
        "text = text.replace('priority = 5', 'priority = 8')",
        "import re; text = re.sub(r'not_before = \"[^\"]*\"', 'not_before = \"\"', text)",
        "text = text.replace('dedupe_key = \"\"', 'dedupe_key = \"greeting\"')",
    ]))
    cli_env.pop("VISUAL", None)
    out = ok(cli_env, "edit", str(rec["id"])).stdout
    assert out == f"edited t{rec['id']}: dedupe_key, label, not_before, payload, priority\n"
    now = task(cli_env, rec["id"])
    assert now["payload"]["argv"] == ["echo", "new"] and now["label"] == "echo new"
    assert now["priority"] == 8 and now["not_before"] is None and now["dedupe_key"] == "greeting"
    assert now["payload"]["cwd"] == rec["payload"]["cwd"]
    dup = add(cli_env, "shell", "--dedupe", "greeting", "--", "true")
    assert dup["deduplicated"] and dup["id"] == rec["id"]
    cli_env["EDITOR"] = _editor(tmp_path, "text = text.replace('not_before = \"\"', 'not_before = 2030-01-01T00:00:00Z')")
    assert ok(cli_env, "edit", str(rec["id"])).stdout == f"edited t{rec['id']}: not_before\n"
    assert task(cli_env, rec["id"])["not_before"].startswith("2030-01-01T00:00:00")


def test_an_edit_that_does_not_check_out_changes_nothing_and_keeps_the_text(cli_env, tmp_path):
    rec = add(cli_env, "shell", "--delay", "600", "--", "echo", "hi")
    before = task(cli_env, rec["id"])
    cases = [
        (_editor(tmp_path, "text = text.replace('priority = 5', 'priority = 11')"), "priority must be"),
        (_editor(tmp_path, "text = text.replace('priority = 5', 'priority = ')"), "not valid TOML"),
        (_editor(tmp_path, "text = 'colour = \"red\"\\n' + text"), "'colour' cannot be edited"),
        (_editor(tmp_path, "text = text.replace('argv = ', 'nothing = ')"), "not edited"),
        (_editor(tmp_path, "text = text.replace('priority = 5', 'priority = 9')", code=3), "the editor exited 3"),
    ]
    for editor, why in cases:
        cli_env["EDITOR"] = editor
        proc = lq(cli_env, "edit", str(rec["id"]))
        _one_line(proc, 1, why, "your text is kept in ")
        kept = proc.stderr.rsplit("your text is kept in ", 1)[1].strip()
        assert open(kept).read() != "", kept
        assert task(cli_env, rec["id"]) == before, why
    cli_env["EDITOR"] = "false"  # fails without touching the file: nothing to keep
    _one_line(lq(cli_env, "edit", str(rec["id"])), 1, "the editor exited 1", f"t{rec['id']} unchanged")
    cli_env["EDITOR"] = "true"
    assert ok(cli_env, "edit", str(rec["id"])).stdout == f"t{rec['id']} unchanged\n"
    cli_env["EDITOR"] = str(tmp_path / "no-such-editor")
    _one_line(lq(cli_env, "edit", str(rec["id"])), 1, "cannot run the editor", "$VISUAL or $EDITOR")
    assert task(cli_env, rec["id"]) == before


def test_edit_is_only_for_a_queued_task_and_its_key_must_be_free(cli_env, tmp_path):
    held = add(cli_env, "shell", "--delay", "600", "--dedupe", "taken", "--", "true")
    rec = add(cli_env, "shell", "--delay", "600", "--", "echo", "hi")
    cli_env["EDITOR"] = _editor(tmp_path, "text = text.replace('dedupe_key = \"\"', 'dedupe_key = \"taken\"')")
    _one_line(lq(cli_env, "edit", str(rec["id"])), 1, f"dedupe key 'taken' is held by t{held['id']} (queued)")
    ok(cli_env, "cancel", str(rec["id"]))
    cli_env["EDITOR"] = "false"  # never opened
    _one_line(lq(cli_env, "edit", str(rec["id"])), 1, f"t{rec['id']} is cancelled; only a queued task can be edited")


def test_edit_of_a_task_holding_a_byte_that_is_not_utf8_says_so_in_one_line(cli_env, isolated_home):
    import subprocess

    from .helpers import PYTHON

    env = dict(cli_env, A="v\udcff")  # a variable holding byte 0xff, as a shell passes it
    added = subprocess.run([PYTHON, "-m", "lazyqueue", "add", "--json", "shell", "--env", "A", "--", "true"],
                           env=env, capture_output=True, text=True, timeout=60)
    tid = json.loads(added.stdout)["id"]
    env["EDITOR"] = "false"  # never opened
    _one_line(lq(env, "edit", str(tid)), 1, f"t{tid} holds a byte that is not UTF-8", f"lazyqueue rm t{tid}")
    assert not list(isolated_home.glob("edit-*"))
    assert task(env, tid)["payload"]["env"]["A"] == "v\udcff"
