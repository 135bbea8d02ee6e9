"""A state directory another user could reach is refused or made private; symlinks are never followed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lazyqueue.core.errors import StoreError
from lazyqueue.core.taskfile import TaskFile
from tests.cli.helpers import lq, ok
from tests.core.helpers import add_task, loaded


def test_a_world_writable_state_dir_is_made_private_and_the_user_told(home, cli_env):
    home.mkdir(mode=0o700)
    os.chmod(home, 0o777)
    proc = ok(cli_env, "add", "shell", "--", "true")
    assert "writable by other users (mode 777); made it private (700)" in proc.stderr
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert "made it private" not in ok(cli_env, "ls").stderr  # said once: it is private now


def test_a_symlinked_state_dir_is_refused_in_one_line(tmp_path, home, cli_env):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    home.symlink_to(real)
    proc = lq(cli_env, "add", "shell", "--", "true")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "is a symbolic link" in proc.stderr
    assert list(real.iterdir()) == []


def test_a_state_dir_of_another_user_is_refused(home, monkeypatch):
    home.mkdir(mode=0o700)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(home).st_uid + 1)
    with pytest.raises(StoreError, match="belongs to another user"):
        TaskFile(home)


def test_a_planted_journal_symlink_is_not_appended_to(tmp_path, home):
    home.mkdir(mode=0o700)
    private = tmp_path / "private.txt"
    private.write_text("secret\n")
    (home / "tasks.journal").symlink_to(private)
    with pytest.raises(StoreError):
        add_task(TaskFile(home))
    assert private.read_text() == "secret\n"


def test_a_planted_snapshot_temp_symlink_is_not_overwritten(tmp_path, home):
    store = loaded(home)
    add_task(store)
    private = tmp_path / "private.txt"
    private.write_text("secret\n")
    (home / f".tasks.json.tmp-{os.getpid()}").symlink_to(private)
    with store.lock:
        store.compact()
    assert private.read_text() == "secret\n"
    assert sorted(loaded(home).state.tasks) == [1]


def test_log_does_not_follow_a_symlink_in_logs(tmp_path, home, cli_env):
    ok(cli_env, "add", "shell", "--", "true")
    private = tmp_path / "private.txt"
    private.write_text("secret\n")
    (home / "logs").mkdir(mode=0o700, exist_ok=True)
    (home / "logs" / "1.log").symlink_to(private)
    proc = lq(cli_env, "log", "1")
    assert proc.returncode == 1 and "secret" not in proc.stdout
    assert proc.stderr.startswith("lazyqueue: cannot read") and proc.stderr.count("\n") == 1


def test_a_file_another_user_left_in_a_shared_dir_is_refused(home, monkeypatch):
    home.mkdir(mode=0o700)
    (home / "tasks.journal").write_text("")
    os.chmod(home, 0o777)
    real = os.stat(home).st_uid
    # "we" are uid real+1: the directory looks like ours, the file in it (real uid) does not
    monkeypatch.setattr(os, "getuid", lambda: real + 1)
    monkeypatch.setattr(os, "lstat", lambda p, _l=os.lstat: _fake_owner(_l(p), real + 1))
    with pytest.raises(StoreError, match="holds tasks.journal, owned by another user"):
        TaskFile(home)
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o777  # not made private around a planted file


def _fake_owner(st, uid):
    fields = list(st)
    fields[stat.ST_UID] = uid
    return os.stat_result(fields)


@pytest.mark.parametrize("xdg", [None, "", "  ", "/somewhere/data"])
def test_the_default_places_are_platformdirs_answers(monkeypatch, tmp_path, xdg):
    import platformdirs

    from lazyqueue.core.paths import config_path, state_dir

    monkeypatch.delenv("LAZYQUEUE_HOME", raising=False)
    monkeypatch.delenv("LAZYQUEUE_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        if xdg is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, xdg)
    assert state_dir() == Path(platformdirs.user_data_dir("lazyqueue", appauthor=False))
    assert config_path() == (Path(platformdirs.user_config_dir("lazyqueue", appauthor=False)) / "config.toml", False)
