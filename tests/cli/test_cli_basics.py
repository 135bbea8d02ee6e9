"""The CLI contract: output, --json records, exit codes, errors, file safety."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from .helpers import PYTHON, add, lq, ok, run_until_idle, task, tasks

CONTRACT_FIELDS = {
    "id", "kind", "status", "job_id", "label", "priority", "dedupe_key", "payload", "result", "error",
    "error_kind", "attempt", "max_attempts", "progress", "progress_label", "created_at", "updated_at",
    "started_at", "finished_at", "not_before", "expires_at", "timeout_s", "after", "owner", "meta",
}


def test_add_prints_the_task_record_and_ls_show_agree(cli_env):
    rec = add(cli_env, "shell", "--title", "greeting", "--priority", "7", "--", "echo", "hello world")
    assert CONTRACT_FIELDS <= set(rec)
    assert rec["deduplicated"] is False
    assert rec["status"] == "queued" and rec["priority"] == 7 and rec["kind"] == "shell"
    assert rec["payload"]["argv"] == ["echo", "hello world"]
    listed = tasks(cli_env)
    assert [t["id"] for t in listed] == [rec["id"]]
    assert "deduplicated" not in listed[0]
    assert task(cli_env, rec["id"])["label"] == "echo 'hello world'"
    human = ok(cli_env, "add", "shell", "--", "true").stdout
    assert human.startswith("queued t2")


def test_human_listing_tells_status_by_word_and_symbol(cli_env):
    add(cli_env, "shell", "--", "true")
    add(cli_env, "shell", "--", "false")
    run_until_idle(cli_env)
    out = ok(cli_env, "ls").stdout
    assert "✓ completed" in out
    assert "✗ failed" in out and "exit code 1" in out
    assert "\x1b[" not in out  # NO_COLOR / not a terminal: no colour codes


def test_dedupe_answers_already_queued_with_the_existing_task(cli_env):
    first = add(cli_env, "shell", "--dedupe", "nightly", "--", "echo", "one")
    again = lq(cli_env, "add", "shell", "--dedupe", "nightly", "--", "echo", "two")
    assert again.returncode == 0
    assert again.stdout.startswith(f"already queued as t{first['id']}")
    dup = add(cli_env, "shell", "--dedupe", "nightly", "--", "echo", "three")
    assert dup["deduplicated"] is True and dup["id"] == first["id"]
    assert len(tasks(cli_env)) == 1
    run_until_idle(cli_env)
    # once finished, the key is free again
    assert add(cli_env, "shell", "--dedupe", "nightly", "--", "true")["deduplicated"] is False


def test_bad_input_is_one_line_with_the_right_exit_code(cli_env, tmp_path):
    cases = [
        (["add", "nosuchkind"], 2, "unknown kind 'nosuchkind'"),
        (["add", "shell", "--priority", "11", "--", "true"], 2, "priority must be 1..10"),
        (["add", "download", "notkeyvalue"], 2, "expected key=value"),
        (["add", "shell"], 2, "give a command"),
        (["show", "t99"], 1, "no task t99"),
        (["show", "banana"], 2, "not a task id"),
        (["retry", "5"], 1, "no task t5"),
        (["cancel", "5"], 1, "no task t5"),
        (["add", "shell", "--after", "42", "--", "true"], 1, "no task t42"),
        (["add", "shell", "--job", "9", "--", "true"], 1, "no job #009"),
        (["add", "shell", "--from", str(tmp_path / "missing.txt")], 1, "cannot read"),
        (["--config", str(tmp_path / "nope.toml"), "ls"], 1, "config file not found"),
    ]
    for args, code, text in cases:
        proc = lq(cli_env, *args)
        assert proc.returncode == code, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert text in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_bad_config_names_file_key_and_problem(cli_env, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[kinds.encode]\ncommand = ['ffmpeg', '-i', '{input}']\nconcurrency = 0\n")
    proc = lq(cli_env, "kinds")
    assert proc.returncode == 1
    assert str(config) in proc.stderr and "kinds.encode.concurrency" in proc.stderr and "≥ 1" in proc.stderr
    config.write_text("[worker]\nconcurency = 2\n")
    proc = lq(cli_env, "ls")
    assert proc.returncode == 1 and "worker.concurency: unknown key" in proc.stderr
    config.write_text("[worker\n")
    proc = lq(cli_env, "ls")
    assert proc.returncode == 1 and "not valid TOML" in proc.stderr and "Traceback" not in proc.stderr


def test_config_command_kind_fills_whole_argv_items(cli_env, tmp_path):
    out = tmp_path / "args.txt"
    (tmp_path / "config.toml").write_text(
        "[kinds.record]\n"
        f"command = ['{PYTHON}', '-c', 'import sys; open(sys.argv[1], \"w\").write(\"|\".join(sys.argv[2:]))', '{{out}}', '{{value}}']\n"
        "dedupe = 'record:{value}'\n"
    )
    rec = add(cli_env, "record", f"out={out}", "value=a b; echo pwned")
    assert rec["dedupe_key"] == "record:a b; echo pwned"
    missing = lq(cli_env, "add", "record", f"out={out}")
    assert missing.returncode == 2 and "value=" in missing.stderr
    run_until_idle(cli_env)
    assert out.read_text() == "a b; echo pwned"
    assert task(cli_env, rec["id"])["status"] == "completed"


def test_add_from_file_is_one_durable_write(cli_env, isolated_home, tmp_path):
    lines = tmp_path / "cmds.txt"
    lines.write_text("# a comment\n" + "".join(f"echo {i}\n" for i in range(50)) + "\n")
    ok(cli_env, "add", "shell", "--", "true")  # create the file first
    journal = isolated_home / "tasks.journal"
    before = journal.read_text().count("\n")
    out = ok(cli_env, "add", "shell", "--from", str(lines)).stdout
    assert out.startswith("queued 50 task(s) (t2–t51)")
    assert journal.read_text().count("\n") == before + 1
    listed = tasks(cli_env)
    assert len(listed) == 51
    assert listed[-1]["payload"]["command"] == "echo 49"
    via_stdin = json.loads(ok(cli_env, "add", "shell", "--from", "-", "--json", input="echo a\necho b\n").stdout)
    assert [r["payload"]["command"] for r in via_stdin] == ["echo a", "echo b"]


def test_wait_and_log(cli_env):
    good = add(cli_env, "shell", "--", "sh", "-c", "echo out-line; echo err-line >&2")
    bad = add(cli_env, "shell", "--", "sh", "-c", "echo broken; exit 4")
    run_until_idle(cli_env)
    assert lq(cli_env, "wait", str(good["id"])).returncode == 0
    proc = lq(cli_env, "wait", str(good["id"]), str(bad["id"]))
    assert proc.returncode == 1 and "exit code 4" in proc.stdout
    log = ok(cli_env, "log", str(good["id"])).stdout
    assert "out-line" in log and "err-line" in log
    failed = task(cli_env, bad["id"])
    assert failed["status"] == "failed" and "broken" in failed["error"] and failed["error_kind"] == "retryable"


def test_files_are_private(cli_env, isolated_home):
    add(cli_env, "shell", "--", "echo", "hi")
    run_until_idle(cli_env)
    assert stat.S_IMODE(os.stat(isolated_home).st_mode) == 0o700
    for name in ("tasks.journal", "tasks.lock"):
        assert stat.S_IMODE(os.stat(isolated_home / name).st_mode) == 0o600, name
    ok(cli_env, "prune")
    assert stat.S_IMODE(os.stat(isolated_home / "tasks.json").st_mode) == 0o600


def test_corrupt_task_file_is_moved_aside_and_reported(cli_env, isolated_home):
    add(cli_env, "shell", "--", "true")
    ok(cli_env, "prune")  # fold into tasks.json
    original = isolated_home / "tasks.json"
    good = original.read_bytes()
    damaged = good[: len(good) // 2]  # truncated mid-record
    original.write_bytes(damaged)
    (isolated_home / "tasks.journal").write_bytes(b"")
    proc = lq(cli_env, "ls", "--json")
    assert proc.returncode == 0
    warnings = [line for line in proc.stderr.splitlines() if "moved it to" in line]
    assert len(warnings) == 1, proc.stderr
    aside = [p for p in isolated_home.iterdir() if p.name.startswith("tasks.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == damaged
    assert str(aside[0]) in warnings[0]
    # ids keep increasing past whatever the damaged file held
    assert add(cli_env, "shell", "--", "true")["id"] >= 2


def test_future_version_file_is_never_overwritten(cli_env, isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    future = b'{"version": 99, "tasks": [{"id": 7, "kind": "shell"}]}'
    (isolated_home / "tasks.json").write_bytes(future)
    proc = lq(cli_env, "add", "shell", "--json", "--", "true")
    assert proc.returncode == 0, proc.stderr
    assert "schema version 99" in proc.stderr
    aside = [p for p in isolated_home.iterdir() if p.name.startswith("tasks.json.unknown-version-")]
    assert len(aside) == 1 and aside[0].read_bytes() == future
    assert json.loads(proc.stdout)["id"] == 8  # never reuses an id the other file held


def test_cli_add_loads_neither_textual_nor_rich(cli_env):
    code = (
        "import sys\n"
        "from lazyqueue.cli import main\n"
        "assert main(['add', 'shell', '--', 'true']) == 0\n"
        "assert main(['ls', '--json']) == 0\n"
        "bad = [m for m in ('textual', 'rich') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=cli_env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-c", "import sys, lazyqueue; from lazyqueue import Queue; "
                           "assert 'textual' not in sys.modules and 'rich' not in sys.modules"],
                          env=cli_env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_kinds_lists_caps_and_policies(cli_env, tmp_path):
    (tmp_path / "config.toml").write_text("[worker]\nconcurrency = 3\n[kinds.shell]\nconcurrency = 1\nmax_attempts = 2\n")
    out = ok(cli_env, "kinds").stdout
    shell_line = next(line for line in out.splitlines() if line.startswith("shell"))
    assert shell_line.split()[1:3] == ["1", "2"]
    assert "global cap: 3" in out


def test_options_before_the_command_keep_their_values_also_abbreviated(cli_env, tmp_path):
    """`--hom DIR add …` and `--back URL add …`: the value is not taken for the command."""
    other = tmp_path / "other-home"
    rec = json.loads(ok(cli_env, "--hom", str(other), "add", "shell", "--json", "--", "true").stdout)
    assert rec["payload"]["argv"] == ["true"]
    assert [t["id"] for t in json.loads(ok(cli_env, "--home", str(other), "ls", "--json").stdout)] == [rec["id"]]
    for before in (["--back", ""], ["--backend", ""], ["--conf", cli_env["LAZYQUEUE_CONFIG"]], [f"--home={other}"]):
        proc = lq(cli_env, *before, "add", "shell", "ls", "-la")
        assert proc.returncode == 2, (before, proc.stderr)
        assert proc.stderr.startswith("lazyqueue: put the command after --: lazyqueue add shell -- ls -la"), (before, proc.stderr)
        assert proc.stderr.count("\n") == 1
