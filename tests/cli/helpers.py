"""Drive the real `lazyqueue` command in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from lazyqueue.bench.report import max_overlap

from ..conftest import wait_until

__all__ = ["PYTHON", "lq", "ok", "add", "tasks", "task", "start_worker", "stop", "run_until_idle", "wait_for",
           "pid_gone", "ledger_lines", "max_overlap"]

PYTHON = sys.executable


def lq(env: dict, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "lazyqueue", *args], env=env, input=input, capture_output=True, text=True, timeout=timeout
    )


def ok(env: dict, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    proc = lq(env, *args, input=input)
    assert proc.returncode == 0, f"lazyqueue {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def add(env: dict, *args: str) -> dict:
    return json.loads(ok(env, "add", "--json", *args).stdout)


def tasks(env: dict) -> list[dict]:
    return json.loads(ok(env, "ls", "--json").stdout)


def task(env: dict, tid: int) -> dict:
    return json.loads(ok(env, "show", str(tid), "--json").stdout)


def start_worker(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-m", "lazyqueue", "worker", "-q", *args], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_until_idle(env: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = lq(env, "worker", "--exit-when-idle", "-q", *args, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    return wait_until(predicate, timeout=timeout, interval=interval, message=what)


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
    return False


def ledger_lines(path) -> list[list[str]]:
    try:
        return [line.split() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []
