"""`lazyqueue worker start|stop|status`, the background worker's own loop, and SIGHUP.

`cli.cmd_worker` hands over here; nothing in this module imports Textual or rich.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from .core import background

IDLE_POLL_S = 0.5


def _uptime(started_at: str | None) -> float | None:
    from .core.models import parse_iso

    when = parse_iso(started_at) if started_at else None
    return None if when is None else max(0.0, time.time() - when)


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {(seconds % 3600) // 60} min"


def worker_control(args, queue, json_out) -> int:
    """start | stop | status of the background worker of `queue`'s state directory."""
    if queue.distributed:
        from .core.errors import UsageError

        raise UsageError(f"'worker {args.action}' is for the local task file; the cluster's workers: 'lazyqueue cluster status'")
    home = queue.home
    if args.action == "start":
        record, started = background.start_background(home, args.config)
        if started:
            print(background.started_line(record))
        else:
            print(f"a background worker is already running (pid {record['pid']}, up {_span(_uptime(record.get('started_at')))})")
        return 0
    if args.action == "stop":
        record = background.stop_background(home, timeout=queue.config.grace_s + 30.0)
        if record is None:
            print("no background worker running")
        else:
            print(f"stopped the background worker (pid {record['pid']})")
        return 0
    return _status(args, queue, json_out)


def _status(args, queue, json_out) -> int:
    workers = background.live_workers(queue.home)
    bg = next((w for w in workers if w.get("where") == background.BACKGROUND), None)
    running = len(queue.tasks(status="running"))
    queued = len(queue.tasks(status="queued"))
    if args.json:
        def shown(w: dict) -> dict:
            return {"pid": w["pid"], "host": w.get("host"), "where": w.get("where"),
                    "started_at": w.get("started_at"), "uptime_s": _uptime(w.get("started_at"))}

        data = {"alive": bg is not None, "background": dict(shown(bg), log=bg.get("log")) if bg else None,
                "workers": [shown(w) for w in workers], "running": running, "queued": queued}
        json_out(data)
        return 0
    if bg is not None:
        print(f"background worker: pid {bg['pid']}, up {_span(_uptime(bg.get('started_at')))} "
              f"(log: {bg.get('log') or queue.home / background.LOG_NAME})")
    else:
        print("no background worker running")
    for w in workers:
        if w is not bg:
            print(f"{w.get('where', 'foreground')} worker: pid {w['pid']}, up {_span(_uptime(w.get('started_at')))} "
                  "(a TUI or 'lazyqueue worker')")
    print(f"tasks: {running} running, {queued} queued")
    if not workers and queued:
        print(background.NO_WORKER_LINE)
    return 0


def run_background(queue, print_event) -> int:
    """`lazyqueue worker --background`: the worker `add` starts; exits after `idle_exit` idle seconds."""
    import signal

    from .core import events as ev

    home = queue.home
    record_path = home / background.WORKERS_DIR / f"{os.getpid()}.json"
    idle_exit = queue.config.idle_exit_s
    print(f"{_stamp()} background worker pid {os.getpid()} started (exits after {idle_exit:g} s idle)", flush=True)
    queue.subscribe(print_event, types=(ev.TASK_STARTED, ev.TASK_COMPLETED, ev.TASK_FAILED,
                                        ev.TASK_CANCELLED, ev.TASK_EXPIRED, ev.TASK_QUEUED, ev.WORKER_STATE))
    stopping = threading.Event()

    def on_term(signum, frame):
        stopping.set()
        queue.request_stop()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # no terminal: a stray hangup is not a stop

    def watch_idle() -> None:
        idle_since = None
        while not stopping.wait(IDLE_POLL_S):
            worker = queue.worker
            if worker is None or worker.stopping:
                continue
            try:
                idle = queue.is_idle()
            except Exception:  # noqa: BLE001 - a damaged file, a full disk: the worker's pass reports it
                idle = False
            if not idle:
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since < idle_exit:
                continue
            if background.claim_idle_exit(home, record_path, queue.is_idle):
                print(f"{_stamp()} idle for {idle_exit:g} s: exiting", flush=True)
                stopping.set()
                worker.stop(wait=False)
                return
            idle_since = None

    threading.Thread(target=watch_idle, name="lazyqueue-idle-exit", daemon=True).start()
    if not stopping.is_set():
        queue.run_worker(where=background.BACKGROUND)
    stopping.set()
    print(f"{_stamp()} background worker pid {os.getpid()} stopped", flush=True)
    return 0


def _stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


_hung_up = threading.Event()


def on_hangup(queue) -> None:
    """SIGHUP to `lazyqueue worker`: stop claiming, leave commands to be adopted, exit promptly."""
    import signal

    def hangup(signum, frame):
        _hung_up.set()
        _detach_output()
        if queue.worker is not None:
            from .core.signals import soon

            soon(queue.worker.stop, wait=False, leave_running=True)

    signal.signal(signal.SIGHUP, hangup)


def after_run(queue, config_arg) -> None:
    """After the loop: a hung-up worker hands its work to a background worker and leaves now."""
    if not _hung_up.is_set():
        return
    background.hand_over(queue, config_arg)
    try:
        queue.close()
    finally:
        os._exit(0)  # handler threads that would block the exit die with us; their tasks are recovered


def _detach_output() -> None:
    """The terminal is gone: writes to it would fail (EIO); send them nowhere."""
    try:
        fd = os.open(os.devnull, os.O_RDWR)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        for target in (0, 1, 2):
            os.dup2(fd, target)
        os.close(fd)
    except OSError:
        pass
