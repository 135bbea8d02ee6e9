"""The real TUI under tmux: a closed window or "keep them running" leaves commands to a background worker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid

import pytest

from tests.cli.helpers import add, ok, pid_gone, task, wait_for



@pytest.fixture(autouse=True)
def _needs_tmux():
    """Never skipped: without tmux these fail, saying what to install (.ci/run installs it)."""
    if shutil.which("tmux") is None:
        pytest.fail("these tests drive the real TUI under tmux: install tmux (apt install tmux)")


def records(home) -> list[dict]:
    out = []
    for path in (home / "workers").glob("*.json") if (home / "workers").is_dir() else []:
        try:
            out.append(json.loads(path.read_text()))
        except ValueError:
            pass
    return out


@pytest.fixture
def tui(cli_env, home, tmp_path):
    """Opens `lazyqueue` in a detached tmux session of its own; everything it started is killed after."""
    (tmp_path / "config.toml").write_text("[worker]\nidle_exit = 60\n")
    env = dict(cli_env, LAZYQUEUE_AUTOSTART="1", TERM="xterm-256color")
    session = f"autostart-{uuid.uuid4().hex[:8]}"
    exports = " ".join(f"{k}={v!r}" for k, v in env.items() if k.startswith(("LAZYQUEUE_", "PYTHONPATH", "NO_COLOR")))

    def open_tui() -> None:
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                        f"env {exports} {sys.executable} -m lazyqueue"], check=True, env=env)

    def keys(*names: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", session, *names], check=True)

    def screen() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout

    def kill() -> None:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)

    open_tui.keys, open_tui.screen, open_tui.kill, open_tui.env = keys, screen, kill, env
    yield open_tui
    kill()
    for record in records(home):
        try:
            os.kill(record["pid"], signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _held_command(cli_env, tmp_path):
    go_on = tmp_path / "go-on"
    script = f"echo run >> {tmp_path / 'ledger'}; echo start; while [ ! -e {go_on} ]; do sleep 0.05; done; echo end"
    rec = add(dict(cli_env, LAZYQUEUE_AUTOSTART="0"), "shell", "--max-attempts", "1", "--", "sh", "-c", script)
    return rec["id"], go_on


def _adopted_and_completed(env, home, tmp_path, tid: int, go_on, tui_pid: int) -> dict:
    wait_for(lambda: pid_gone(tui_pid), timeout=20, what="the TUI to exit")
    background = wait_for(lambda: [r for r in records(home) if r.get("where") == "background"], timeout=20,
                          what="a background worker")[0]
    wait_for(lambda: (task(env, tid).get("owner") or {}).get("pid") == background["pid"], timeout=20,
             what="the background worker to adopt the command")
    go_on.touch()
    done = wait_for(lambda: (t := task(env, tid))["status"] == "completed" and t, what="the task to complete")
    assert done["attempt"] == 1
    assert (tmp_path / "ledger").read_text().split() == ["run"]
    log = ok(env, "log", str(tid)).stdout
    assert "start" in log and log.rstrip().endswith("end")
    return done


def test_killing_the_tmux_session_mid_command_leaves_it_to_a_background_worker(tui, cli_env, home, tmp_path):
    tid, go_on = _held_command(cli_env, tmp_path)
    tui()
    owner = wait_for(lambda: (task(cli_env, tid).get("owner") or {}).get("child_pgid") and task(cli_env, tid)["owner"],
                     timeout=30, what="the TUI to start the command")
    wait_for(lambda: "start" in ok(cli_env, "log", str(tid)).stdout, what="its first line")
    tui.kill()  # the window closes: SIGHUP
    _adopted_and_completed(tui.env, home, tmp_path, tid, go_on, owner["pid"])


def test_keep_them_running_is_the_first_answer_of_the_quit_question(tui, cli_env, home, tmp_path):
    tid, go_on = _held_command(cli_env, tmp_path)
    tui()
    owner = wait_for(lambda: (task(cli_env, tid).get("owner") or {}).get("child_pgid") and task(cli_env, tid)["owner"],
                     timeout=30, what="the TUI to start the command")
    tui.keys("q")
    wait_for(lambda: "[k]eep them running" in tui.screen(), what="the quit question")
    tui.keys("Enter")  # the default answer
    _adopted_and_completed(tui.env, home, tmp_path, tid, go_on, owner["pid"])
