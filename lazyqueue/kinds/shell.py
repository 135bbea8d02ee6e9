"""The built-in `shell` kind, and the runner behind config command kinds.

A command runs in its own process group with stdout and stderr going to the
task's log file. Lines it prints steer the task:
  ::progress 40 encoding      -> progress 40 %, label "encoding"
  ::result {"path": "out.mp4"} -> the task's result
A non-zero exit fails the task with the tail of the output as the error.

Nothing depends on the worker staying alive: output goes straight into the
log file and the gate appends the exit status to `logs/exit-status`, so
when a worker dies the next one adopts the command (`adopt_command`): it
follows the log from where the attempt began and records the exit status.
"""

from __future__ import annotations

import os
import threading
from collections import deque

from ..core import processes
from ..core.adoption import GATE, exits_file, read_exit_status, set_adopter
from ..core.errors import Cancelled, RetryableError, UsageError
from ..core.registry import Field, Kind, fill_template

KILL_GRACE_S = 3.0
# The gate: a tiny sh that leads the command's process group. It runs the command once
# "go" arrives on stdin (then stdin reads EOF like /dev/null), and appends "TASK ATTEMPT CODE"
# to the logs dir's exit-status file when it ends: one short O_APPEND write, so lines of gates
# ending together never mix, and no file is created per task (a creation cost 0.02–0.7 ms of
# CPU on the benchmark machine). Output goes straight into the log file, so neither depends
# on the worker: a worker that dies leaves a command the next one can adopt.
# A command line ("sh" form) runs in a subshell of the gate, with the gate's traps reset:
# as `sh -c LINE` would run it, minus a second exec of sh per task (~0.7 ms of CPU each).
_GATE = (
    'exits=$1 tid=$2 attempt=$3 form=$4; shift 4\n'
    'IFS= read -r go && [ "$go" = go ] || exit 125\n'
    'exec 0</dev/null\n'
    "trap : TERM INT HUP\n"  # a group stop reaches the command; the gate lives on to write its status
    'if [ "$form" = sh ]; then (trap - TERM INT HUP; unset exits tid attempt form go; eval "shift; $1")\n'
    'else "$@"; fi\n'
    'code=$?\n'
    'umask 077\n'
    'printf \'%s %s %s\\n\' "$tid" "$attempt" "$code" >> "$exits"\n'
    'exit $code\n'
)
TAIL_LINES = 12
MAX_ARG = 128 * 1024  # Linux's MAX_ARG_STRLEN: execve refuses a longer single argument (sh -c COMMAND too)
POLL_MIN_S = 0.01  # the log is read this soon after output arrived…
POLL_MAX_S = 0.2  # …and backs off to this while the command is quiet


def _validate(payload: dict) -> dict:
    argv = payload.get("argv")
    command = payload.get("command")
    if argv is None and command is None:
        raise ValueError("give a command: lazyqueue add shell -- CMD ARGS, or command='CMD'")
    if argv is not None and command is not None:  # one would be shown and the other run
        raise ValueError("give either argv (-- CMD ARGS) or command='CMD', not both")
    if argv is not None and (not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv)):
        raise ValueError("argv must be a non-empty list of strings")
    if command is not None and (not isinstance(command, str) or not command.strip()):
        raise ValueError("command must be a non-empty string")
    env = payload.get("env")
    if env is not None and (not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values())):
        raise ValueError("env must map names to strings")
    texts = [command, payload.get("cwd"), *(argv or ()), *((env or {}).keys()), *((env or {}).values())]
    if any(isinstance(t, str) and "\x00" in t for t in texts):
        raise ValueError("a command, argument, cwd or environment value cannot hold a NUL byte")
    if any(isinstance(t, str) and len(t) * 4 > MAX_ARG and len(t.encode("utf-8", "surrogatepass")) > MAX_ARG
           for t in (command, *(argv or ()))):
        raise ValueError(f"a command or argument longer than {MAX_ARG // 1024} KiB cannot be run (the system's limit for one)")
    return payload


def _label(payload: dict) -> str:
    if payload.get("argv"):
        import shlex

        return shlex.join(payload["argv"])
    return str(payload.get("command", "shell"))


def terminate_group(pid: int, grace: float = KILL_GRACE_S, done: threading.Event | None = None) -> None:
    """TERM the process group, then KILL it if it is still there after `grace`."""
    processes.terminate_group(pid, grace, done)


def _check_program(program: str, cwd: str | None, path: str | None) -> None:
    """Fail early, and never retried, when the program cannot be run at all."""
    import shutil

    from ..core.errors import UserInputError

    if cwd and not os.path.isdir(cwd):
        raise UserInputError(f"working directory not found: {cwd}")
    if os.sep in program:
        where = program if os.path.isabs(program) or not cwd else os.path.join(cwd, program)
        if not os.path.exists(where):
            raise UserInputError(f"command not found: {program}")
        if os.path.isdir(where) or not os.access(where, os.X_OK):
            raise UserInputError(f"permission denied: {program}")
    elif shutil.which(program, path=path) is None:
        raise UserInputError(f"command not found: {program}")


class Abandoned(Exception):
    """The worker went away and left the command running (its successor adopts it)."""


class _Follower:
    """Reads a task's log from an offset and acts on `::progress` / `::result` lines."""

    def __init__(self, ctx, offset: int):
        self.ctx = ctx
        self.offset = offset
        self.partial = b""
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.result = None

    def read(self, final: bool = False) -> bool:
        """Take in what was written since the last read; True if there was anything."""
        from ..core.paths import NOFOLLOW

        try:
            fd = os.open(self.ctx.log_path, os.O_RDONLY | NOFOLLOW)
        except OSError:
            return False
        try:
            os.lseek(fd, self.offset, os.SEEK_SET)
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError:
            return False  # a read error is not the command's end: look again later
        finally:
            os.close(fd)
        data = b"".join(chunks)
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        if final and self.partial:
            lines.append(self.partial)
            self.partial = b""
        for raw in lines:
            self._line(raw.decode("utf-8", errors="replace").rstrip("\r"))
        return bool(chunks)

    def _line(self, line: str) -> None:
        import json

        self.ctx.output(line)
        if line.startswith("::progress"):
            parts = line.split(None, 2)
            try:
                value = float(parts[1]) if len(parts) > 1 else None
            except ValueError:
                value = None
            self.ctx.progress(value, parts[2] if len(parts) > 2 else None)
            return
        if line.startswith("::result"):
            try:
                value = json.loads(line[len("::result"):].strip(), parse_constant=_no_constant)
                json.dumps(value, allow_nan=False)  # 1e999 parses as inf
                self.result = value
            except ValueError:
                _log(self.ctx, "lazyqueue: ignored a ::result line that is not JSON (NaN and Infinity are not JSON)")
            return
        if line.strip():
            self.tail.append(line)


def _log(ctx, line: str) -> None:
    """A line of lazyqueue's own in the task's log; a failed write does not end supervision."""
    try:
        ctx.log(line)
    except OSError:
        pass


def _log_size(path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _outcome(ctx, follower: _Follower, code: int | None):
    if code is None:
        if ctx.cancelled:
            raise Cancelled(ctx.cancel_reason or "cancel")
        from ..core.errors import Interrupted

        raise Interrupted("its command ended and left no exit status")
    if ctx.cancelled and code != 0:
        raise Cancelled(ctx.cancel_reason or "cancel")
    if code != 0:
        if code < 0:
            what = f"killed by signal {-code}"
        elif 128 < code < 160:
            what = f"killed by signal {code - 128}"  # as the shell reports it
        else:
            what = f"exit code {code}"
        text = "\n".join(follower.tail)[-600:]
        raise RetryableError(f"{what}: {text}" if text else what)
    return follower.result if follower.result is not None else {"exit_code": 0}


def run_command(ctx, argv: list[str] | None = None, command: str | None = None, cwd: str | None = None, env: dict | None = None):
    """Run a command for a task; returns its `::result` value or {"exit_code": 0}."""
    import subprocess  # here, not at the top: `lazyqueue add` never runs a command

    from ..core.paths import NOFOLLOW

    child_env = dict(os.environ)
    if env:
        child_env.update(env)
    child_env["LAZYQUEUE_TASK_ID"] = str(ctx.task.id)
    if argv:
        _check_program(argv[0], cwd, child_env.get("PATH"))
    # The command starts only after its process group is recorded in the task file:
    # the gate waits for "go" on stdin. If this worker dies first, the pipe closes,
    # `read` fails and the command never runs, so a recovered task never runs twice at once.
    real = ["sh", command] if command is not None else ["argv", *argv]
    _log(ctx, f"── attempt {ctx.attempt} · {_label({'argv': argv} if argv else {'command': command})}")
    ctx.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    out = os.open(ctx.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | NOFOLLOW, 0o600)  # output may hold secrets
    offset = _log_size(ctx.log_path)
    # $0 is /bin/sh, as `/bin/sh -c LINE` gave a command line before it ran in the gate
    args = ["/bin/sh", "-c", _GATE, "/bin/sh", str(exits_file(ctx.log_path)), ctx.log_path.stem, str(ctx.attempt), *real]
    try:
        proc = subprocess.Popen(
            args, cwd=cwd or None, env=child_env, stdin=subprocess.PIPE, stdout=out, stderr=out,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        from ..core.errors import UserInputError

        missing = exc.filename or (argv[0] if argv else command)
        if cwd and not os.path.isdir(cwd):
            raise UserInputError(f"working directory not found: {cwd}") from None
        raise UserInputError(f"command not found: {missing}") from None
    except PermissionError as exc:
        from ..core.errors import UserInputError

        raise UserInputError(f"permission denied: {exc.filename}") from None
    finally:
        os.close(out)
    try:
        ctx.note_child(proc.pid, log_offset=offset, gate=GATE)  # in the task file before the command may start
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.close()
    except BaseException:
        proc.stdin.close()  # EOF: the gate exits without running the command
        proc.wait()
        raise
    exited = threading.Event()
    ctx.on_cancel(lambda: terminate_group(proc.pid, done=exited))
    ended, pause, close = _exit_watch(proc, exited, ctx.task.id)
    follower = _Follower(ctx, offset)
    code = None
    try:
        code = _supervise(ctx, follower, ended, pause)
        processes.kill_group(proc.pid)  # the command exited: stop anything it left running in its group
    except Abandoned:
        raise
    except BaseException:
        processes.kill_group(proc.pid)  # whatever ended supervision, the command does not run on unwatched
        proc.wait()
        raise
    finally:
        close()
    return _outcome(ctx, follower, code)


def _exit_watch(proc, exited: threading.Event, tid: int):
    """(ended, pause, close) for `_supervise`: a pause ends the moment the command does.

    On Linux a pidfd turns readable when the process exits, so the supervising
    thread waits on it itself; elsewhere a thread per command waits for it
    (a thread start and its wake-ups cost ~0.1 ms of CPU a command).
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        fd = None
    if fd is None:
        def reap() -> None:
            proc.wait()
            exited.set()

        threading.Thread(target=reap, name=f"lazyqueue-t{tid}-exit", daemon=True).start()
        return (lambda: proc.returncode if exited.is_set() else None), exited.wait, (lambda: None)
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)

    def ended():
        if proc.poll() is None:
            return None
        exited.set()  # a group stop under way (cancel) sees the command gone
        return proc.returncode

    def pause(seconds: float) -> None:
        poller.poll(seconds * 1000)

    return ended, pause, lambda: os.close(fd)


def _supervise(ctx, follower: _Follower, ended, pause):
    """Follow the log until `ended()` answers something other than None; returns that."""
    quiet = POLL_MIN_S
    while True:
        code = ended()
        if code is not None:
            break
        if ctx.abandoned:
            follower.read()
            raise Abandoned()
        quiet = POLL_MIN_S if follower.read() else min(POLL_MAX_S, quiet * 2)
        pause(quiet)
    follower.read(final=True)
    return code


def adopt_command(ctx, child: dict):
    """Supervise a command a dead worker started: follow its log, stop it on cancel, take its exit status.

    `child` is what its worker recorded (`child_pgid`, `child_pstart`,
    `log_offset`). The group is judged alive only while its leader is the same
    process (same kernel start time), never by pid alone.
    """
    import time

    from ..core.processes import pid_alive

    pgid, pstart = child["child_pgid"], child.get("child_pstart")
    follower = _Follower(ctx, int(child.get("log_offset") or 0))

    def stop() -> None:
        if pid_alive(pgid, pstart):
            terminate_group(pgid)

    def pause(seconds: float) -> None:
        if ctx.wait_cancelled(seconds):
            time.sleep(seconds)  # cancelled: the group is being stopped; look again shortly

    ctx.on_cancel(stop)
    _supervise(ctx, follower, lambda: None if pid_alive(pgid, pstart) else True, pause)
    processes.kill_group(pgid)  # what the command left in its group (the group lives on only while members remain)
    return _outcome(ctx, follower, read_exit_status(ctx.log_path, ctx.attempt, child.get("gate", 2)))


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _shell_handler(ctx):
    p = ctx.payload
    return run_command(ctx, argv=p.get("argv"), command=p.get("command"), cwd=p.get("cwd"), env=p.get("env"))


def command_handler(template: tuple[str, ...], cwd: str | None = None):
    """A handler for a config kind: fill each argv item from the payload, never via a shell."""

    def handler(ctx):
        argv = [fill_template(item, ctx.payload, "command") for item in template]
        where = fill_template(cwd, ctx.payload, "cwd") if cwd else ctx.payload.get("cwd")
        return run_command(ctx, argv=argv, cwd=where, env=ctx.payload.get("env"))

    return handler


set_adopter(adopt_command)  # a recovering worker supervises a dead worker's command with it

SHELL = Kind(
    name="shell",
    handler=_shell_handler,
    validate=_validate,
    fields=(Field("command", required=False, help="command line (run by sh -c)"),),
    label=_label,
    description="run a command; ::progress N and ::result {json} lines report back",
    source="built-in",
)

__all__ = ["SHELL", "run_command", "adopt_command", "read_exit_status", "command_handler", "terminate_group", "UsageError"]
