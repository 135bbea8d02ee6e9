"""The built-in `shell` kind, and the runner behind config command kinds.

A command runs in its own process group with stdout and stderr going to the
task's log file. Lines it prints steer the task:
  ::progress 40 encoding      -> progress 40 %, label "encoding"
  ::result {"path": "out.mp4"} -> the task's result
A non-zero exit fails the task with the tail of the output as the error.
"""

from __future__ import annotations

import os
import threading
from collections import deque

from ..core import processes
from ..core.errors import Cancelled, RetryableError, UsageError
from ..core.registry import Field, Kind, fill_template

KILL_GRACE_S = 3.0
# stdin is the gate: the command runs once "go" arrives, then reads EOF like /dev/null.
# A missing command exits 127 from `exec`; we report it as "command not found".
_GATE = 'IFS= read -r go && [ "$go" = go ] && exec 0</dev/null "$@"'
TAIL_LINES = 12
MAX_ARG = 128 * 1024  # Linux's MAX_ARG_STRLEN: execve refuses a longer single argument (sh -c COMMAND too)
LEFTOVER_GRACE_S = 1.0  # output still read after the command exited, while a child it left holds the pipe


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


def run_command(ctx, argv: list[str] | None = None, command: str | None = None, cwd: str | None = None, env: dict | None = None):
    """Run a command for a task; returns its `::result` value or {"exit_code": 0}."""
    import json
    import subprocess  # here, not at the top: `lazyqueue add` never runs a command
    child_env = dict(os.environ)
    if env:
        child_env.update(env)
    child_env["LAZYQUEUE_TASK_ID"] = str(ctx.task.id)
    if argv:
        _check_program(argv[0], cwd, child_env.get("PATH"))
    # The command starts only after its process group is durably recorded on the task:
    # a tiny sh waits for "go" on stdin. If this worker dies first, the pipe closes,
    # `read` fails and the command never runs, so a recovered task never runs twice at once.
    real = ["/bin/sh", "-c", command] if command is not None else list(argv)
    args, use_shell = ["/bin/sh", "-c", _GATE, "lazyqueue-task", *real], False
    ctx.log(f"── attempt {ctx.attempt} · {_label({'argv': argv} if argv else {'command': command})}")
    try:
        proc = subprocess.Popen(
            args,
            shell=use_shell,
            cwd=cwd or None,
            env=child_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
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
    try:
        ctx.note_child(proc.pid)  # durable before the command may start
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.close()
    except BaseException:
        proc.stdin.close()  # EOF: the gate exits without running the command
        proc.wait()
        raise
    exited, drained = threading.Event(), threading.Event()
    ctx.on_cancel(lambda: terminate_group(proc.pid, done=exited))

    def leader_watch() -> None:
        # A child the command left in the background can hold the output open forever: once the
        # command itself has exited, its last lines get LEFTOVER_GRACE_S, then its group is stopped.
        proc.wait()
        exited.set()
        if not drained.wait(LEFTOVER_GRACE_S):
            processes.kill_group(proc.pid)

    threading.Thread(target=leader_watch, name=f"lazyqueue-t{ctx.task.id}-exit", daemon=True).start()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    result = None
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        ctx.log(line)
        if line.startswith("::progress"):
            parts = line.split(None, 2)
            try:
                value = float(parts[1]) if len(parts) > 1 else None
            except ValueError:
                value = None
            ctx.progress(value, parts[2] if len(parts) > 2 else None)
            continue
        if line.startswith("::result"):
            try:
                value = json.loads(line[len("::result"):].strip(), parse_constant=_no_constant)
                json.dumps(value, allow_nan=False)  # 1e999 parses as inf
                result = value
            except ValueError:
                ctx.log("lazyqueue: ignored a ::result line that is not JSON (NaN and Infinity are not JSON)")
            continue
        if line.strip():
            tail.append(line)
    drained.set()
    code = proc.wait()
    exited.set()
    processes.kill_group(proc.pid)  # the leader exited: stop anything it left running in its group
    if ctx.cancelled and code != 0:
        raise Cancelled(ctx.cancel_reason or "cancel")
    if code != 0:
        what = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        text = "\n".join(tail)[-600:]
        raise RetryableError(f"{what}: {text}" if text else what)
    return result if result is not None else {"exit_code": 0}


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


SHELL = Kind(
    name="shell",
    handler=_shell_handler,
    validate=_validate,
    fields=(Field("command", required=False, help="command line (run by sh -c)"),),
    label=_label,
    description="run a command; ::progress N and ::result {json} lines report back",
    source="built-in",
)

__all__ = ["SHELL", "run_command", "command_handler", "terminate_group", "UsageError"]
