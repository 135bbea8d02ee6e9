"""Fetching a status: GET a URL or run a command, and send a cancel.

Every failure is one PollError with a one-line message (the poller counts it).
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
from typing import Callable

from ...core import processes
from ..web import USER_AGENT, describe
from .status import PollError, RemoteStatus, parse_status

POLL_TIMEOUT = 30.0
MAX_BODY = 1 << 20


def url_fetcher(url: str, timeout: float = POLL_TIMEOUT) -> Callable[[], RemoteStatus]:
    """GET the status URL (proxies from the environment) and parse its JSON."""

    def fetch() -> RemoteStatus:
        request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": USER_AGENT})
        try:
            with urllib.request.build_opener().open(request, timeout=timeout) as resp:
                body = resp.read(MAX_BODY + 1)
        except Exception as exc:  # noqa: BLE001 - every failure is one failed poll
            raise PollError(describe(exc, url, timeout)[0]) from None
        if len(body) > MAX_BODY:
            raise PollError("status answer is over 1 MB")
        return parse_status(body.decode("utf-8", errors="replace"))

    return fetch


def run_sh(command: str, *, cwd: str | None = None, env: dict | None = None, timeout: float = POLL_TIMEOUT, what: str = "command") -> str:
    """Run `sh -c command` in its own process group; stdout, or PollError."""
    child_env = dict(os.environ)
    if env:
        child_env.update(env)
    try:
        proc = subprocess.Popen(
            ["sh", "-c", command], cwd=cwd or None, env=child_env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
    except OSError as exc:
        raise PollError(f"{what} could not start: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        processes.kill_group(proc.pid)
        proc.communicate()
        raise PollError(f"{what} timed out after {timeout:g} s") from None
    if proc.returncode != 0:
        tail = err.decode("utf-8", errors="replace").strip().splitlines()[-1:] or [""]
        code = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
        raise PollError(f"{what} {code}" + (f": {tail[0][:200]}" if tail[0] else ""))
    return out.decode("utf-8", errors="replace")


def command_fetcher(command: str, *, cwd: str | None = None, env: dict | None = None, timeout: float = POLL_TIMEOUT) -> Callable[[], RemoteStatus]:
    """Run the status command with `sh -c` and parse its stdout."""

    def fetch() -> RemoteStatus:
        return parse_status(run_sh(command, cwd=cwd, env=env, timeout=timeout, what="status command"))

    return fetch


def send_cancel(payload: dict, env: dict | None = None, timeout: float = POLL_TIMEOUT) -> str:
    """Call the cancel command or URL; answers what happened, raises PollError on failure."""
    if payload.get("cancel_command"):
        run_sh(payload["cancel_command"], cwd=payload.get("cwd"), env=env, timeout=timeout, what="cancel command")
        return "cancel command ran"
    url = payload["cancel_url"]
    request = urllib.request.Request(url, data=b"", method="POST", headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.build_opener().open(request, timeout=timeout) as resp:
            resp.read(MAX_BODY)
            return f"cancel sent: HTTP {resp.status}"
    except Exception as exc:  # noqa: BLE001
        raise PollError(describe(exc, url, timeout)[0]) from None


def make_fetcher(payload: dict, env: Callable[[], dict] | None = None) -> Callable[[], RemoteStatus]:
    timeout = float(payload.get("poll_timeout") or POLL_TIMEOUT)
    if payload.get("url"):
        return url_fetcher(payload["url"], timeout)

    def fetch() -> RemoteStatus:
        return command_fetcher(payload["command"], cwd=payload.get("cwd"), env=env() if env else None, timeout=timeout)()

    return fetch


__all__ = ["POLL_TIMEOUT", "url_fetcher", "run_sh", "command_fetcher", "send_cancel", "make_fetcher"]
