"""The background worker of a state directory: find it, start it once, stop it.

Every worker process registers itself in `workers/` of the state directory
(`<pid>.json`: pid, kernel start time, host, where it runs, when it started)
and removes its file when it stops. A record whose process is gone, or whose
pid now belongs to another process (the start time differs), is stale and
swept. So "is anything running the work?" is one directory listing and a
`/proc` read per live worker — cheap enough for every `add`.

A background worker is `lazyqueue worker --background` started detached (its
own session, stdin from /dev/null, output appended to `worker.log`). It is
started under `worker.lock`, after looking again, so racing adds start
exactly one; the starter writes its record before letting go of the lock. It
exits after `[worker] idle_exit` seconds with nothing left to run: it drops
its record under the same lock and looks at the queue once more, so an add
that saw it alive is never left without a worker.

This module imports nothing heavy: `lazyqueue add` calls it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .processes import pid_alive, start_time

WORKERS_DIR = "workers"
START_LOCK = "worker.lock"
LOG_NAME = "worker.log"
LOG_KEEP_BYTES = 1 << 20  # worker.log is rotated to worker.log.1 beyond this at a start
READY_TIMEOUT_S = 10.0
BACKGROUND = "background"
FOREGROUND = "foreground"

_HOST: str | None = None


def host() -> str:
    """This machine's name, as the worker records it (without importing socket: `add` calls this)."""
    global _HOST
    if _HOST is None:
        try:
            _HOST = os.uname().nodename
        except AttributeError:  # not POSIX
            import socket

            _HOST = socket.gethostname()
    return _HOST


# ---------------------------------------------------------------- records
def _dir(home: Path) -> Path:
    return Path(home) / WORKERS_DIR


def _write_record(home: Path, record: dict) -> Path:
    folder = _dir(home)
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{record['pid']}.json"
    tmp = folder / f".{record['pid']}.json.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with open(fd, "w", encoding="utf-8") as fh:
        json.dump(record, fh)
    os.replace(tmp, path)
    return path


def live_workers(home: Path, sweep: bool = True) -> list[dict]:
    """The worker processes alive for this state directory (stale records removed when `sweep`)."""
    folder = _dir(home)
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        path = folder / name
        try:
            with open(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), encoding="utf-8") as fh:
                record = json.load(fh)
            pid = int(record["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written, or not ours: a later look decides
        if record.get("host", host()) != host() or pid_alive(pid, record.get("pstart")):
            found.append(record)
        elif sweep:
            try:
                path.unlink()
            except OSError:
                pass
    found.sort(key=lambda r: r.get("started_at", ""))
    return found


def background_worker(home: Path) -> dict | None:
    """The live background worker's record, if there is one."""
    for record in live_workers(home):
        if record.get("where") == BACKGROUND:
            return record
    return None


def register(home: Path, where: str, worker_id: str | None = None) -> Path | None:
    """Record this process as a worker of `home`; returns the file to `unregister` at the end."""
    pid = os.getpid()
    path = _dir(home) / f"{pid}.json"
    record: dict = {}
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)  # the starter's record: keep when it started us
    except (OSError, ValueError):
        pass
    record.update({"pid": pid, "pstart": start_time(pid), "host": host(), "where": where})
    record.setdefault("started_at", _now_iso())
    if worker_id:
        record["worker"] = worker_id
    try:
        return _write_record(home, record)
    except OSError:  # a full disk: the worker runs (and says so) unlisted
        return None


def unregister(path: Path | None) -> None:
    if path is None:
        return
    try:
        path.unlink()
    except OSError:
        pass


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ---------------------------------------------------------------- autostart
def autostart_enabled(config) -> bool:
    """`[worker] autostart` (default true), unless LAZYQUEUE_AUTOSTART=0 turns it off."""
    env = os.environ.get("LAZYQUEUE_AUTOSTART")
    if env is not None and env.strip().lower() in ("0", "false", "no", "off"):
        return False
    return bool(getattr(config, "autostart", True))


class _StartLock:
    """`worker.lock`: one process at a time decides whether to start a background worker."""

    def __init__(self, home: Path):
        self.path = Path(home) / START_LOCK
        self.fd = -1

    def __enter__(self) -> "_StartLock":
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)  # closing lets go of the flock
        self.fd = -1


def ensure_worker(home: Path, config_arg: str | None = None) -> dict | None:
    """Make sure some worker runs this state directory's work.

    Answers the record of the background worker it started, or None when a
    worker was already alive (any worker: a TUI, `lazyqueue worker`, a
    background one). The caller says so to the user once.
    """
    if live_workers(home, sweep=False):
        return None  # the common case: one listing, no lock
    with _StartLock(home):
        if live_workers(home):
            return None  # another add started one while we waited
        return _spawn(home, config_arg)


def start_background(home: Path, config_arg: str | None = None) -> tuple[dict, bool]:
    """Start the background worker unless one is alive: (its record, whether we started it)."""
    with _StartLock(home):
        running = background_worker(home)
        if running is not None:
            return running, False
        return _spawn(home, config_arg), True


def _spawn(home: Path, config_arg: str | None) -> dict:
    import subprocess
    import sys

    home = Path(home)
    log = home / LOG_NAME
    try:
        if log.stat().st_size > LOG_KEEP_BYTES:
            os.replace(log, home / (LOG_NAME + ".1"))
    except OSError:
        pass
    args = ["worker", "--background", "--home", str(home)]
    if config_arg:
        args += ["--config", str(config_arg)]
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    # the package's own location first: a worker started from a checkout runs the same code
    code = f"import sys; sys.path.insert(0, {package_root!r}); from lazyqueue.cli import main; sys.exit(main({args!r}))"
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            cwd=str(home), start_new_session=True, close_fds=True,
        )
    finally:
        os.close(out)
    proc.returncode = 0  # detached: never waited for here (no "still running" warning at exit)
    record = {"pid": proc.pid, "pstart": start_time(proc.pid), "host": host(), "where": BACKGROUND,
              "started_at": _now_iso(), "log": str(log)}
    _write_record(home, record)
    return record


def claim_idle_exit(home: Path, record_path: Path, still_idle) -> bool:
    """A background worker about to exit idle: drop its record, then look once more.

    Under the start lock: the record goes first, then `still_idle()` is asked.
    An add that queued work before that look is seen (the worker stays, and
    answers False); one that queued after it finds no worker and starts one.
    """
    with _StartLock(home):
        try:
            saved = record_path.read_bytes()
        except OSError:
            saved = b""
        unregister(record_path)
        if still_idle():
            return True
        if saved:
            tmp = record_path.with_name(f".{record_path.name}.tmp-{os.getpid()}")
            tmp.write_bytes(saved)
            os.replace(tmp, record_path)
        return False


def stop_background(home: Path, timeout: float = 60.0) -> dict | None:
    """SIGTERM the background worker (its graceful stop) and wait for it to exit; its record, or None."""
    import signal

    record = background_worker(home)
    if record is None:
        return None
    pid = int(record["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return record
    deadline = time.monotonic() + timeout
    while pid_alive(pid, record.get("pstart")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the background worker (pid {pid}) is still stopping after {timeout:g} s")
        time.sleep(0.05)  # another process: poll it
    return record


def started_line(record: dict) -> str:
    return f"started a background worker (pid {record['pid']}) — 'lazyqueue worker stop' stops it"


NO_WORKER_LINE = "no worker running — 'lazyqueue worker start' or open lazyqueue"


# ---------------------------------------------------------------- handing over, and who runs the work
def hand_over(queue, config_arg=None) -> dict | None:
    """This process's worker stopped and may have left work: make sure a worker picks it up.

    Answers the record of a background worker it started (None: autostart is
    off, nothing is left, or a worker is alive). Never raises: it runs on the
    way out (quit, hangup).
    """
    try:
        if hasattr(queue, "url") or not autostart_enabled(queue.config):
            return None
        if not queue.tasks(status=("queued", "running")):
            return None
        return ensure_worker(queue.home, config_arg if config_arg is not None else queue.config.path)
    except Exception:  # noqa: BLE001 - going away: nothing may stop the exit
        return None


def worker_infos(queue) -> list:
    """The workers alive for a local queue's state directory, as `Engine.workers()` answers."""
    from .engine import WorkerInfo

    class LocalWorkerInfo(WorkerInfo):
        FIELDS = ("pid", "host", "started_at", "heartbeat_at", "where", "running", "executor_id")

        def __init__(self, **values):
            for name in self.FIELDS:
                setattr(self, name, values.get(name))

        def to_dict(self) -> dict:
            return {name: getattr(self, name) for name in self.FIELDS}

        def __repr__(self) -> str:
            return f"WorkerInfo(pid={self.pid}, where={self.where!r}, running={self.running})"

    running: dict[int, int] = {}
    for task in queue.tasks(status="running"):
        pid = (task.owner or {}).get("pid")
        if isinstance(pid, int):
            running[pid] = running.get(pid, 0) + 1
    own = os.getpid()
    return [
        LocalWorkerInfo(pid=r["pid"], host=r.get("host"), started_at=r.get("started_at"),
                        where="this process" if r["pid"] == own else r.get("where", FOREGROUND),
                        running=running.get(r["pid"], 0))
        for r in live_workers(queue.home)
    ]
