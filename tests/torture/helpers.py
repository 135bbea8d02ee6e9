"""Shared by the torture tests: start processes that die with the test, read ledgers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lazyqueue.bench.torture import Procs, kill_strays, lq, ls_json  # noqa: F401 - shared with the tests

PYTHON = sys.executable


class Started(Procs):
    """Processes a test starts, output piped; `close()` kills each by pid (and strays by state dir)."""

    @property
    def procs(self) -> list[subprocess.Popen]:
        return self.started

    def popen(self, argv, env, **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return super().popen(argv, env, **kw)

    def lazyqueue(self, env, *args, **kw) -> subprocess.Popen:
        return self.popen([PYTHON, "-m", "lazyqueue", *args], env, **kw)

    def close(self) -> None:
        self.kill_all()
        for proc in self.started:
            proc.wait()
            for stream in (proc.stdout, proc.stderr, proc.stdin):
                if stream is not None:
                    stream.close()


@pytest.fixture
def started(isolated_home):
    s = Started(isolated_home)
    try:
        yield s
    finally:
        s.close()
