"""Shared by the torture tests: start processes that die with the test, read ledgers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from lazyqueue.bench.torture import kill_strays

PYTHON = sys.executable


class Started:
    """Processes a test starts; `close()` kills each by pid (and strays by state dir)."""

    def __init__(self, home):
        self.home = home
        self.procs: list[subprocess.Popen] = []

    def popen(self, argv, env, **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(argv, env=env, start_new_session=True, **kw)
        self.procs.append(proc)
        return proc

    def lazyqueue(self, env, *args, **kw) -> subprocess.Popen:
        return self.popen([PYTHON, "-m", "lazyqueue", *args], env, **kw)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            proc.wait()
            for stream in (proc.stdout, proc.stderr, proc.stdin):
                if stream is not None:
                    stream.close()
        kill_strays(self.home)


@pytest.fixture
def started(isolated_home):
    s = Started(isolated_home)
    try:
        yield s
    finally:
        s.close()


def lq(env: dict, *args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "lazyqueue", *args], env=env, input=input, capture_output=True,
                          text=True, timeout=timeout)


def ls_json(env: dict) -> list[dict]:
    proc = lq(env, "ls", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
