"""`lazyqueue run` and `queue.run()`: stay in the foreground while the work is quick.

The command is queued as a task (same caps, dedupe and logs as `add`) and the state
dir's background worker runs it; `run` follows its log to the terminal. If it ends
within `background_after` seconds, `run` exits with its exit code, as a direct run
would; else `run` says where it went and returns while the task runs on.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

from .core.errors import LazyQueueError, UsageError
from .core.models import FINISHED, task_ref

BACKGROUND_AFTER_S = 2.0
CANCEL_WAIT_S = 5.0  # after Ctrl-C: how long to wait for the task to end cancelled
HEADER = "── attempt "  # the line the shell kind writes before each attempt


# ---------------------------------------------------------------- the worker
def ensure_worker(queue) -> bool:
    """Make sure something runs the queue's work: this process's worker, else the background one.

    Answers False when nothing will: autostart is off and no worker is alive.
    """
    from .core import background

    if queue.worker is not None or queue.distributed:
        return True  # a worker here, or the cluster engine (its workers run elsewhere)
    if not background.autostart_enabled(queue.config):
        return bool(background.live_workers(queue.home, sweep=False))
    path = queue.config.path
    background.ensure_worker(queue.home, str(path) if path is not None else None)
    return True


# ---------------------------------------------------------------- following
def read_log(queue, task_id: int, offset: int = 0, limit: int | None = None) -> tuple[bytes, int]:
    """Log bytes from `offset` and the next offset (the engine reads them)."""
    return queue.read_log(task_id, offset, limit)


def exit_code(task) -> int:
    """The exit code a direct run of the task's command would have given."""
    if task.status == "completed":
        return 0
    if task.status == "cancelled":
        return 130
    error = task.error or ""
    match = re.match(r"exit code (\d+)", error)
    if match:
        return int(match.group(1))
    match = re.match(r"killed by signal (\d+)", error)
    if match:
        return 128 + int(match.group(1))
    if error.startswith("command not found"):
        return 127
    if error.startswith("permission denied"):
        return 126
    return 1


class LogTail:
    """Reads a task's log as it grows and hands on whole lines, without the attempt headers."""

    def __init__(self, queue, task_id: int, out):
        self._read = read_log
        self.queue = queue
        self.task_id = task_id
        self.out = out
        self.offset = 0
        self._partial = b""

    def pump(self, final: bool = False) -> None:
        data, self.offset = self._read(self.queue, self.task_id, self.offset, None)
        if not data and not (final and self._partial):
            return
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = b"" if final else lines.pop()
        text = []
        for line in lines:
            decoded = line.decode("utf-8", "replace")
            if not decoded.startswith(HEADER):
                text.append(decoded)
        if final and text and text[-1] == "":
            text.pop()
        if text and self.out is not None:
            self.out.write("\n".join(text) + "\n")
            self.out.flush()


def follow(queue, task_id: int, background_after: float | None, out=None, poll: float = 0.02):
    """Follow a task until it finishes (answers the task) or `background_after` passes (None)."""
    tail = LogTail(queue, task_id, out)
    deadline = None if background_after is None else time.monotonic() + background_after
    gap = poll
    while True:
        task = queue.get(task_id)
        tail.pump()
        if task.status in FINISHED:
            tail.pump(final=True)
            return task
        if deadline is not None and time.monotonic() >= deadline:
            tail.pump(final=True)
            return None
        wait = gap if deadline is None else max(0.0, min(gap, deadline - time.monotonic()))
        time.sleep(wait)  # the work runs in another process: its log and the task file are polled
        gap = min(gap * 1.5, 0.1)


def cancel_and_wait(queue, task_id: int, out=None):
    """Ctrl-C: cancel the task and wait a little for it to end (a second Ctrl-C stops waiting)."""
    queue.cancel(task_id)
    try:
        return follow(queue, task_id, CANCEL_WAIT_S, out)
    except KeyboardInterrupt:
        return None


def queue_command(queue, argv: list[str], options: dict):
    """Queue `argv` as a shell task, recording where it was asked from (like `add`)."""
    from .core.queue import TaskSpec

    payload: dict = {"argv": list(argv), "cwd": os.getcwd()}
    env = {k: os.environ[k] for k in ("PATH", "VIRTUAL_ENV") if k in os.environ}
    if env:
        payload["env"] = env
    options = dict(options)
    if options.get("max_attempts") is None:
        options["max_attempts"] = 1  # as a direct run: a failure is told, not retried behind the user's back
    return queue.enqueue_many([TaskSpec("shell", payload, **options)])[0]


def background_line(task, seconds: float) -> str:
    return (f"still running after {seconds:g} s: moved to the background as {task.ref} — "
            f"lazyqueue log {task.id} --follow")


def run_command(queue, argv: list[str], options: dict, *, background_after: float = BACKGROUND_AFTER_S,
                wait: bool = False, as_json: bool = False, out=None, err=None) -> int:
    """The `lazyqueue run` command: answers the exit code to leave with."""
    out = out or sys.stdout
    err = err or sys.stderr
    if not argv:
        raise UsageError("nothing after '--': give the command to run")
    result = queue_command(queue, argv, options)
    task = result.task
    if result.deduplicated:
        err.write(f"lazyqueue: already queued as {task.ref} ({task.status}): {task.label}; following it\n")
    if not ensure_worker(queue):
        err.write("lazyqueue: no worker is running and autostart is off: start one with 'lazyqueue worker start'\n")
    # the user's own command writes to their terminal as a direct run would (escapes and all);
    # output of a task someone else queued goes through the CLI's safe stream
    shown = None if as_json else (out if result.deduplicated else getattr(out, "raw", out))
    try:
        done = follow(queue, task.id, None if wait else background_after, shown)
    except KeyboardInterrupt:
        done = cancel_and_wait(queue, task.id, shown)
        if as_json and done is not None:
            out.write(json.dumps(done.to_dict(), ensure_ascii=False, indent=2) + "\n")
        err.write(f"lazyqueue: cancelled {task.ref}\n" if done is None or done.status == "cancelled"
                  else f"lazyqueue: {task.ref} ended {done.status} before the cancel took\n")
        return 130
    if done is None:
        if as_json:
            out.write(json.dumps(queue.get(task.id).to_dict(), ensure_ascii=False, indent=2) + "\n")
        else:
            err.write(background_line(task, background_after) + "\n")
        return 0
    if as_json:
        out.write(json.dumps(done.to_dict(), ensure_ascii=False, indent=2) + "\n")
    code = exit_code(done)
    if done.status != "completed" and not re.match(r"(exit code|killed by signal) \d+", done.error or ""):
        first = (done.error or done.status).strip().splitlines()
        err.write(f"lazyqueue: {task_ref(done.id)} {done.status}: {first[0] if first else done.status}\n")
    return code


def run_task(queue, kind: str, payload: dict | None = None, background_after: float = BACKGROUND_AFTER_S, **options):
    """`queue.run()`: the task's result if it completes within `background_after` s, else the task.

    A task that fails or is cancelled in time raises LazyQueueError with its error.
    """
    result = queue.enqueue(kind, payload, **options)
    ensure_worker(queue)
    done = follow(queue, result.task.id, background_after)
    if done is None:
        return queue.get(result.task.id)
    if done.status == "completed":
        return done.result
    raise LazyQueueError(f"{done.ref} {done.status}: {done.error or done.status}")


# ---------------------------------------------------------------- the command line
def arguments(parser) -> None:
    """`lazyqueue run`'s options (add's options, plus how long to stay in the foreground)."""
    parser.add_argument("--background-after", type=float, default=BACKGROUND_AFTER_S, metavar="S",
                        help=f"move to the background after S seconds (default {BACKGROUND_AFTER_S:g}; 0 = at once)")
    parser.add_argument("--wait", action="store_true", help="never move to the background")
    parser.add_argument("--job", help="attach to an existing job")
    parser.add_argument("--title", help="title of the new job")
    parser.add_argument("--priority", type=int, help="1 (lowest) … 10 (highest); default 5")
    parser.add_argument("--dedupe", metavar="KEY", help="dedupe key")
    parser.add_argument("--after", nargs="+", default=[], metavar="ID", help="start only after these tasks complete")
    parser.add_argument("--max-attempts", type=int, help="attempts before the task fails (default 1)")
    parser.add_argument("--timeout", type=float, metavar="S", help="fail the attempt after S seconds")
    parser.add_argument("--delay", type=float, metavar="S", help="start no sooner than S seconds from now")
    parser.add_argument("--expires", type=float, metavar="S", help="expire if not started within S seconds")
    parser.add_argument("--json", action="store_true", help="print the task record instead of its output")


def main(queue, args, argv: list[str]) -> int:
    """Run `lazyqueue run` from parsed arguments and the words after `--`."""
    from .core.models import parse_id

    if args.background_after < 0:
        raise UsageError(f"--background-after must be ≥ 0 (got {args.background_after:g})")
    try:
        job = parse_id(args.job, prefix="#") if args.job else None
        after = [parse_id(a) for a in args.after]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    options = dict(job=job, title=args.title, priority=args.priority, dedupe_key=args.dedupe, after=after,
                   max_attempts=args.max_attempts, timeout=args.timeout, delay=args.delay, expires=args.expires)
    return run_command(queue, argv, options, background_after=args.background_after, wait=args.wait,
                       as_json=args.json)
