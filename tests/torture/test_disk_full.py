"""Disk full during a write: the previous state is intact and the user is told.

A real full disk (a tiny tmpfs; needs root) for the CLI and the worker, and a
fault-injecting `os.write` for the snapshot rewrite.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess

import pytest

from lazyqueue.core.config import Config
from lazyqueue.core.errors import StoreError
from lazyqueue import Queue

from tests.conftest import wait_until

from .helpers import lq, ls_json


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(path):
    """Write a file until the disk refuses; returns it (delete it to free the space)."""
    filler = path / "filler"
    with open(filler, "wb", buffering=0) as fh:
        chunk = b"\0" * 4096
        try:
            while True:
                fh.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_cli_add_on_a_full_disk_says_so_and_keeps_the_file(tiny_disk, cli_env):
    env = dict(cli_env, LAZYQUEUE_HOME=str(tiny_disk / "home"))
    first = json.loads(lq(env, "add", "--json", "shell", "--", "echo", "one").stdout)
    assert lq(env, "prune").returncode == 0  # snapshot written, journal emptied: the next append needs a block
    before = {p.name: p.read_bytes() for p in (tiny_disk / "home").iterdir() if p.is_file()}
    filler = fill(tiny_disk)
    proc = lq(env, "add", "shell", "--", "echo", "two")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lazyqueue: disk full"), proc.stderr
    assert "Traceback" not in proc.stderr
    after = {p.name: p.read_bytes() for p in (tiny_disk / "home").iterdir() if p.is_file()}
    assert after == before, "a refused write changed the task file"
    assert [t["id"] for t in ls_json(env)] == [first["id"]]
    filler.unlink()
    second = json.loads(lq(env, "add", "--json", "shell", "--", "echo", "two").stdout)
    assert second["id"] > first["id"]
    assert [t["id"] for t in ls_json(env)] == [first["id"], second["id"]]


def test_worker_on_a_full_disk_reports_and_finishes_once_there_is_room(tiny_disk, cli_env, started, tmp_path):
    env = dict(cli_env, LAZYQUEUE_HOME=str(tiny_disk / "home"))
    ledger = tmp_path / "ledger"
    task = json.loads(lq(env, "add", "--json", "shell", "--", "sh", "-c", f"echo ran >> {ledger}").stdout)
    assert lq(env, "prune").returncode == 0
    filler = fill(tiny_disk)
    errors = tmp_path / "worker.err"
    with open(errors, "w") as err:
        worker = started.lazyqueue(env, "worker", stderr=err, stdout=subprocess.DEVNULL)
    wait_until(lambda: "disk full" in errors.read_text(), timeout=30, message="the worker to report the full disk")
    assert worker.poll() is None, "the worker died on a full disk"
    assert not ledger.exists(), "a task started although its claim could not be written"
    assert ls_json(env)[0]["status"] == "queued"
    filler.unlink()
    wait_until(lambda: ls_json(env)[0]["status"] == "completed", timeout=60, message="the task to complete")
    assert ledger.read_text() == "ran\n"
    assert ls_json(env)[0]["id"] == task["id"]


def test_snapshot_rewrite_refused_keeps_the_previous_snapshot(home, monkeypatch):
    q = Queue(home, config=Config())
    try:
        ids = [q.enqueue("shell", {"command": f"echo {i}"}).task.id for i in range(3)]
        with q.taskfile.lock:
            q.taskfile.compact(retention=False)
        q.enqueue("shell", {"command": "echo 3"})
        before = (home / "tasks.json").read_bytes()
        journal = (home / "tasks.journal").read_bytes()
        real_write = os.write

        def refusing_write(fd, data):
            if os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1].startswith(".tasks.json.tmp"):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", refusing_write)
        with pytest.raises(StoreError, match="^disk full"):
            q.prune()
        monkeypatch.setattr(os, "write", real_write)
        assert (home / "tasks.json").read_bytes() == before
        assert (home / "tasks.journal").read_bytes() == journal
        assert not [p for p in home.iterdir() if p.name.startswith(".tasks.json.tmp")], "temp file left behind"
    finally:
        q.close()
    fresh = Queue(home, config=Config())
    try:
        assert [t.id for t in fresh.tasks()] == ids + [ids[-1] + 1]
    finally:
        fresh.close()
