"""Every test gets its own state directory and config: a real queue never leaks in."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A suite started in the background of a non-interactive shell (`… &`, nohup) inherits SIGINT
# ignored, and so would every process it starts: the tests that press Ctrl-C on a command would
# see it ignored. A handled signal is back to its default in a child, so handle it here.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    config = tmp_path / "config.toml"
    config.write_text("")
    monkeypatch.setenv("LAZYQUEUE_HOME", str(home))
    monkeypatch.setenv("LAZYQUEUE_CONFIG", str(config))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("LAZYQUEUE_AUTOSTART", "0")  # a test starts the workers it means to; tests/cli/test_background.py turns it on
    monkeypatch.setenv("COLUMNS", "200")
    return home


@pytest.fixture
def home(isolated_home):
    return isolated_home


@pytest.fixture
def config_file(tmp_path):
    return tmp_path / "config.toml"


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.01, message: str = "condition"):
    """Poll `predicate` until it is truthy or the deadline passes (then fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


@pytest.fixture
def cli_env(isolated_home, tmp_path):
    env = dict(os.environ)
    env["LAZYQUEUE_HOME"] = str(isolated_home)
    env["LAZYQUEUE_CONFIG"] = str(tmp_path / "config.toml")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


PYTHON = sys.executable
