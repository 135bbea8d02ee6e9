"""`ls` shows the newest page of tasks, `ls --json` every task, `show` one: as the file says."""

from __future__ import annotations

import json

from .helpers import lq, ok, tasks


def fill(env, tmp_path, n: int) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text("".join(f"echo {i}\n" for i in range(n)))
    ok(env, "add", "shell", "--delay", "3600", "--from", str(lines))


def rows(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()[1:] if line.startswith("t")]


def test_ls_shows_the_newest_page_and_says_how_many_are_older(cli_env, tmp_path):
    fill(cli_env, tmp_path, 130)
    out = ok(cli_env, "ls").stdout
    assert rows(out) == [f"t{i}" for i in range(31, 131)]
    assert out.rstrip().endswith("30 older task(s) not shown: lazyqueue ls --limit N, or --all")
    out = ok(cli_env, "ls", "--limit", "3").stdout
    assert rows(out) == ["t128", "t129", "t130"]
    assert "127 older task(s) not shown" in out
    out = ok(cli_env, "ls", "--all").stdout
    assert len(rows(out)) == 130 and "not shown" not in out
    assert len(tasks(cli_env)) == 130  # --json is never cut


def test_the_page_and_the_stream_follow_changes_still_in_the_journal(cli_env, tmp_path):
    fill(cli_env, tmp_path, 20)
    ok(cli_env, "prune")  # a snapshot now holds them; what follows is in the journal
    ok(cli_env, "cancel", "19")
    ok(cli_env, "add", "shell", "--", "echo", "late")
    out = ok(cli_env, "ls", "--limit", "3").stdout
    assert rows(out) == ["t19", "t20", "t21"]
    assert "cancelled" in [line for line in out.splitlines() if line.startswith("t19 ")][0]
    out = ok(cli_env, "ls", "--status", "cancelled").stdout
    assert rows(out) == ["t19"] and "not shown" not in out
    listed = tasks(cli_env)
    assert [t["id"] for t in listed] == list(range(1, 22))
    assert listed[18]["status"] == "cancelled"
    assert json.loads(ok(cli_env, "ls", "--json", "--status", "cancelled").stdout) == [listed[18]]
    assert json.loads(ok(cli_env, "show", "19", "--json").stdout) == listed[18]
    assert json.loads(ok(cli_env, "show", "21", "--json").stdout)["payload"]["argv"] == ["echo", "late"]


def test_show_of_a_missing_task_says_so(cli_env, tmp_path):
    fill(cli_env, tmp_path, 3)
    proc = lq(cli_env, "show", "99")
    assert proc.returncode == 1 and proc.stderr.strip() == "lazyqueue: no task t99"
