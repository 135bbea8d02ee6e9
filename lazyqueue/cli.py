"""The `lazyqueue` command.

Exit codes: 0 ok (a deduplicated add is ok), 1 runtime error, 2 usage error.
Errors are one line on stderr; no traceback reaches a user for bad input.
Rich is imported only to print tables; Textual only to open the TUI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .core.errors import ConfigError, LazyQueueError, NotFound, UsageError
from .core.models import FINISHED, STATUS_SYMBOL, STATUSES, parse_id, task_ref

STATUS_STYLE = {
    "queued": "cyan",
    "running": "yellow",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
    "expired": "dim",
}


# lazyqueue speaks English; argparse's own strings would go through gettext, which
# searches the disk for message catalogues on every call (~10 ms of each `add`)
argparse._ = lambda message: message
argparse.ngettext = lambda singular, plural, n: singular if n == 1 else plural


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (plus the usage hint), exit 2."""

    def _get_formatter(self):
        # argparse makes a formatter per add_argument, and each asks shutil for the terminal
        # width (importing shutil, bz2, lzma): the width is looked up once, without them
        return self.formatter_class(prog=self.prog, width=_help_width())

    def error(self, message: str):  # noqa: D401 - argparse API
        sys.stderr.write(f"{self.prog}: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


_WIDTH: list[int] = []


def _help_width() -> int:
    """The width help is wrapped to: $COLUMNS, else the terminal's, else 80 (as shutil answers), less 2."""
    if not _WIDTH:
        try:
            columns = int(os.environ.get("COLUMNS", ""))
        except ValueError:
            columns = 0
        if columns <= 0:
            try:
                columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
            except (AttributeError, ValueError, OSError):
                columns = 0
        _WIDTH.append((columns or 80) - 2)
    return _WIDTH[0]


MAX_SECONDS = 1e9  # about 31 years: later times do not fit a time stamp


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 <= value <= MAX_SECONDS:  # also NaN
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to {MAX_SECONDS:g} (about 31 years), got {text!r}")
    return value


def _expiry(text: str) -> float:
    value = _positive_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 would expire the task at once; give seconds > 0 (leave --expires out for never)")
    return value


def _task_id(text: str) -> int:
    if text.strip().startswith("#"):
        raise argparse.ArgumentTypeError(f"{text!r} is a job; give a task id (12 or t12)")
    try:
        return parse_id(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a task id: {text!r} (use 12 or t12)") from None


def _task_or_job(text: str) -> tuple[str, int]:
    """("task", 12) for 12 or t12; ("job", 14) for #14 or #014."""
    if text.strip().startswith("#"):
        return "job", _job_id(text)
    return "task", _task_id(text)


def _job_id(text: str) -> int:
    try:
        return parse_id(text, prefix="#")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a job id: {text!r} (use 14 or #014)") from None


def _priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"priority must be 1..10, got {text!r}") from None
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(f"priority must be 1..10, got {value}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {value}")
    return value


def _common(default) -> argparse.ArgumentParser:
    common = ArgumentParser(add_help=False)
    common.add_argument("--home", default=default, help="state directory (default: $LAZYQUEUE_HOME or the user data dir)")
    common.add_argument("--config", default=default, help="config file (default: $LAZYQUEUE_CONFIG or the user config dir)")
    common.add_argument("--backend", default=default, metavar="URL",
                        help="postgresql://… runs on the cluster engine (default: $LAZYQUEUE_BACKEND or [backend] url)")
    return common


ADD_EPILOG = """\
a shell command, either form:
  lazyqueue add shell -- ls -la                      the words after -- are the argv, run as given
  lazyqueue add shell command='make -j4 && make test'  one string, run through sh -c
other kinds take key=value fields (see 'lazyqueue kinds'):
  lazyqueue add download url=https://example.org/a.iso dest=~/Downloads/
key=value fields and options may come in any order; -- COMMAND comes last."""


def _add_args(add) -> None:
    add.formatter_class = argparse.RawDescriptionHelpFormatter
    add.epilog = ADD_EPILOG
    add.add_argument("kind", help="kind of task (see 'lazyqueue kinds')")
    add.add_argument("fields", nargs="*", metavar="key=value", help="payload fields, e.g. command='ls -la' or url=…")
    add.add_argument("--from", dest="from_file", metavar="FILE", help="one task per line ('-' = stdin); shell: each line is a command")
    add.add_argument("--job", type=_job_id, help="attach to an existing job")
    add.add_argument("--title", help="title of the new job")
    add.add_argument("--priority", type=_priority, help="1 (lowest) … 10 (highest); default 5")
    add.add_argument("--dedupe", metavar="KEY", help="dedupe key (default: the kind's rule)")
    add.add_argument("--after", type=_task_id, nargs="+", default=[], metavar="ID", help="start only after these tasks complete")
    add.add_argument("--max-attempts", type=_count, help="attempts before the task fails (default: the kind's)")
    add.add_argument("--timeout", type=_positive_float, metavar="S", help="fail the attempt after S seconds")
    add.add_argument("--delay", type=_positive_float, metavar="S", help="start no sooner than S seconds from now")
    add.add_argument("--expires", type=_expiry, metavar="S", help="expire if not started within S seconds")
    add.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]",
                     help="a command's environment variable: NAME keeps its value here, NAME=VALUE sets it (repeatable)")
    add.add_argument("--json", action="store_true", help="print the task record (plus 'deduplicated')")


LS_PAGE = 100  # tasks in the `ls` table unless --limit/--all


def _ls_args(ls) -> None:
    ls.add_argument("--status", choices=STATUSES, help="only tasks in this state")
    ls.add_argument("--kind", help="only tasks of this kind")
    ls.add_argument("--job", type=_job_id, metavar="JOB", help="only the tasks of this job (14 or #014)")
    ls.add_argument("--json", action="store_true", help="print a JSON array of task records (every match)")
    ls.add_argument("--limit", type=_count, default=LS_PAGE, metavar="N",
                    help=f"the table shows the newest N matching tasks (default {LS_PAGE})")
    ls.add_argument("--all", action="store_true", help="the table shows every matching task")


def _show_args(show) -> None:
    show.add_argument("id", type=_task_or_job, metavar="ID", help="a task (12 or t12) or a job (#014)")
    show.add_argument("--json", action="store_true", help="print the record as JSON (a job: with its tasks)")


def _retry_args(retry) -> None:
    retry.add_argument("ids", type=_task_id, nargs="*", metavar="ID", help="tasks (12 or t12)")
    retry.add_argument("--failed", action="store_true", help="every failed task")


def _cancel_args(cancel) -> None:
    cancel.add_argument("ids", type=_task_id, nargs="+", metavar="ID", help="tasks (12 or t12)")


def _log_args(log) -> None:
    log.add_argument("id", type=_task_id, metavar="ID", help="a task (12 or t12)")
    log.add_argument("--follow", "-f", action="store_true", help="keep printing until the task finishes")


def _wait_args(wait) -> None:
    wait.add_argument("ids", type=_task_id, nargs="+", metavar="ID", help="tasks (12 or t12)")
    wait.add_argument("--timeout", type=_positive_float, metavar="S", help="give up after S seconds (exit 1)")


def _cluster_args(cluster) -> None:
    cluster.add_argument("action", choices=("init", "status", "migrate"))
    cluster.add_argument("--from", dest="from_home", metavar="HOME", help="migrate: the local state directory to move")
    cluster.add_argument("--json", action="store_true", help="status: print JSON")


def _worker_args(worker) -> None:
    worker.add_argument("action", nargs="?", choices=("start", "stop", "status"),
                        help="the background worker: start it, stop it (gracefully), or say how it is")
    worker.add_argument("--json", action="store_true", help="status: print a JSON object")
    worker.add_argument("--background", action="store_true", help=argparse.SUPPRESS)  # how `add` starts one
    worker.add_argument("--exit-when-idle", action="store_true", help="exit 0 once nothing can run without outside help: delays and retry back-offs are "
                        "waited out; a paused queue, a failed dependency or a kind nothing here defines is not; "
                        "tracked work (track) counts as running, see --leave-tracked")
    worker.add_argument("--leave-tracked", action="store_true",
                        help="with --exit-when-idle: exit also while tracked work is left; it goes back to queued "
                        "(no attempt spent) for the next worker, the remote jobs untouched")
    worker.add_argument("--concurrency", type=_count, help="global cap (default: [worker] concurrency)")
    worker.add_argument("--quiet", "-q", action="store_true", help="print no per-task lines")


# command -> (help, function adding its arguments)
SUBCOMMANDS = {
    "demo": ("open the TUI on a throw-away queue with a demo pipeline", None),
    "add": ("queue a task: add KIND [key=value ...] [-- COMMAND ...]", _add_args),
    "ls": ("list tasks", _ls_args),
    "show": ("show one task", _show_args),
    "retry": ("queue failed/cancelled/expired tasks again", _retry_args),
    "cancel": ("cancel tasks (queued: now; running: signalled)", _cancel_args),
    "log": ("print a task's output", _log_args),
    "wait": ("block until tasks finish; exit 0 only if all completed", _wait_args),
    "worker": ("run a headless worker; worker start|stop|status: the background one", _worker_args),
    "run": ("run a command, in the foreground while quick: run [--background-after S] -- COMMAND ...", lambda p: _run_args(p)),
    "serve": ("loopback HTTP API over the queue (extra: lazyqueue[serve])", lambda p: _serve_args(p)),
    "prune": ("apply the retention policy now", None),
    "cluster": ("the cluster backend: cluster init | status | migrate --from HOME", _cluster_args),
    "kinds": ("list kinds with caps and policies", None),
    "rm": ("remove tasks and #jobs (running ones are cancelled first)", lambda p: _rm_args(p)),
    "edit": ("edit a queued task in $VISUAL/$EDITOR", lambda p: _edit_args(p)),
    "completions": ("print a shell completion script: completions bash|zsh|fish", lambda p: _completions_args(p)),
}


VALUED_OPTIONS = ("--home", "--config", "--backend")  # the options before a command that take a value


def _takes_value(item: str) -> bool:
    """`--home DIR`, also abbreviated as argparse allows (`--back URL`); not `--home=DIR`."""
    return item.startswith("--") and "=" not in item and len(item) > 2 and \
        any(option.startswith(item) for option in VALUED_OPTIONS)


def _command_in(argv: list[str]) -> str | None:
    """The subcommand named in argv (skipping the values of --home, --config and --backend), if any."""
    skip = False
    for item in argv:
        if skip:
            skip = False
        elif _takes_value(item):
            skip = True
        elif not item.startswith("-"):
            return item
    return None


def build_parser(argv: list[str] | None = None) -> ArgumentParser:
    """The parser; with `argv`, only the named command gets its arguments (argparse is slow to build)."""
    parser = ArgumentParser(
        prog="lazyqueue",
        description="Queue long-running work and keep working while it runs. Without a command: open the TUI.",
        parents=[_common(None)],
    )
    # given after the command too; SUPPRESS keeps a value given before it
    common = _common(argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"lazyqueue {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    wanted = _command_in(argv) if argv is not None else None
    if wanted not in SUBCOMMANDS:
        wanted = None
    for name, (text, add_arguments) in SUBCOMMANDS.items():
        if wanted is not None and name != wanted:
            sub.add_parser(name, help=text, add_help=False)  # listed in --help, never parsed
            continue
        command = sub.add_parser(name, parents=[common], help=text)
        if add_arguments is not None:
            add_arguments(command)
    return parser


def _add_extras(args, extra: list[str], command_tail: list[str] | None, argv: list[str]) -> None:
    """key=value fields after options are fields; a bare word or an unknown option is a mistake."""
    for item in extra:
        if "=" in item and not item.startswith("-"):
            args.fields.append(item)
            continue
        if getattr(args, "kind", None) == "shell" and command_tail is None:
            raise SystemExit(_shell_hint(args, extra, argv))
        _err(f"unrecognized argument: {item} (see 'lazyqueue add --help')")
        raise SystemExit(2)
    if getattr(args, "kind", None) == "shell" and command_tail is None and any("=" not in f for f in args.fields):
        raise SystemExit(_shell_hint(args, [], argv))


def _shell_hint(args, extra: list[str], argv: list[str]) -> int:
    """`add shell ls -la`: say how to give a command (the words as typed, after --); exit code 2."""
    import shlex

    loose = set(args.fields) | set(extra)
    rest = argv[argv.index(args.kind) + 1:]
    words = [w for w in rest if w in loose]
    options = "".join(f"{shlex.quote(w)} " for w in rest if w not in loose)
    suggestion = shlex.join(words) if words else "COMMAND …"
    _err(f"put the command after --: lazyqueue add shell {options}-- {suggestion}  (or command='…'; see 'lazyqueue add --help')")
    return 2


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command_tail: list[str] | None = None
    if "--" in argv:
        cut = argv.index("--")
        argv, command_tail = argv[:cut], argv[cut + 1:]
    parser = build_parser(argv)
    if _command_in(argv) == "add":
        args, extra = parser.parse_known_args(argv)
        _add_extras(args, extra, command_tail, argv)
    else:
        args = parser.parse_args(argv)
    if command_tail is not None and args.command not in ("add", "run"):
        parser.error("'-- COMMAND' only goes with 'add' or 'run'")
    args.command_tail = command_tail
    streams = sys.stdout, sys.stderr
    if args.command not in (None, "tui", "demo"):  # the TUI draws the terminal itself
        from .core.safe_text import SafeStream

        # labels, titles, errors and remote text may carry terminal escapes: shown, never run
        sys.stdout, sys.stderr = SafeStream(sys.stdout), SafeStream(sys.stderr)
    try:
        code = _run(args)
    finally:
        _flush_warnings()
        sys.stdout, sys.stderr = streams
    return code


def _run(args) -> int:
    try:
        return COMMANDS[args.command or "tui"](args)
    except UsageError as exc:
        _flush_warnings()
        _err(str(exc))
        return 2
    except (LazyQueueError, TimeoutError) as exc:
        _flush_warnings()
        _err(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _err(message: str) -> None:
    sys.stderr.write(f"lazyqueue: {message}\n")


_OPEN: list = []


def _backend(args, config) -> str | None:
    """--backend, else $LAZYQUEUE_BACKEND, else [backend] url; None = the local task file."""
    return getattr(args, "backend", None) or os.environ.get("LAZYQUEUE_BACKEND") or config.backend_url


def _open(args, light: bool = False):
    from .core.config import load_config
    from .core.engine import open_queue
    from .core.paths import config_path, state_dir

    path, named = config_path(args.config)
    config = load_config(path, required=named, cache_dir=state_dir(args.home))  # a parsed copy spares tomllib
    queue = open_queue(args.home, config, backend=_backend(args, config), light=light)
    _OPEN.append(queue)
    _flush_warnings()
    return queue


def _flush_warnings() -> None:
    """Tell the user about files moved aside etc., once each, as soon as known."""
    for queue in _OPEN:
        for warning in queue.take_warnings():
            _err(f"warning: {warning}")


def _json_out(data) -> None:
    from .core.safe_text import json_text

    sys.stdout.write(json_text(json.dumps(data, ensure_ascii=False, indent=2)) + "\n")


# ---------------------------------------------------------------- add
def _parse_fields(items: list[str], where: str = "") -> dict:
    payload: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{where}expected key=value, got {item!r}")
        payload[key] = value
    return payload


def _check_fields(kind, payload: dict) -> None:
    """A config command kind takes only the fields its templates name: `extra=1` is a typo."""
    if kind.command is None:
        return
    known = {f.name for f in kind.fields}
    for name in payload:
        if name not in known and name != "cwd":
            raise UsageError(f"kind {kind.name!r} has no field {name!r} (its fields: {', '.join(sorted(known)) or 'none'})")


KEPT_ENV = ("PATH", "VIRTUAL_ENV")  # always kept from where a command was added


def _env_option(items: list[str]) -> dict[str, str]:
    """--env NAME (its value here) and --env NAME=VALUE."""
    from .core.config import valid_env_name

    env: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not valid_env_name(name):
            raise UsageError(f"--env {item}: not a variable name (give NAME or NAME=VALUE)")
        if not sep:
            if name not in os.environ:
                raise UsageError(f"--env {name}: {name} is not set here (give --env {name}=VALUE)")
            value = os.environ[name]
        env[name] = value
    return env


def _with_context(kind_name: str, payloads: list[dict], queue, extra_env: dict | None = None) -> list[dict]:
    """Record where and how each command was asked for: cwd, and the environment it keeps.

    A command keeps PATH and VIRTUAL_ENV, the variables its kind names (`env = [...]`
    in the config) and those given with --env; nothing else from the environment.
    """
    kind = queue.registry.get(kind_name)
    if kind_name == "shell" or kind.command is not None:
        cwd = os.getcwd()
        env = {k: os.environ[k] for k in (*KEPT_ENV, *kind.env) if k in os.environ}
        env.update(extra_env or {})
        for payload in payloads:
            payload.setdefault("cwd", cwd)
            if env and "env" not in payload:
                payload["env"] = dict(env)
    elif extra_env:
        raise UsageError(f"--env is for commands (shell and config command kinds); {kind_name!r} runs none")
    return payloads


def cmd_add(args) -> int:
    from .core.queue import TaskSpec

    queue = _open(args, light=True)
    options = dict(
        job=args.job, title=args.title, priority=args.priority, dedupe_key=args.dedupe,
        after=args.after, max_attempts=args.max_attempts, timeout=args.timeout,
        delay=args.delay, expires=args.expires,
    )
    queue.registry.get(args.kind)  # unknown kind: usage error before anything else
    if args.from_file is not None:
        if args.fields or args.command_tail:
            raise UsageError("--from takes the tasks from the file; give no key=value or -- COMMAND too")
        env = _env_option(args.env)
        kind = queue.registry.get(args.kind)
        payloads = _read_lines(args.kind, args.from_file)
        for n, payload in enumerate(payloads, 1):
            try:
                _check_fields(kind, payload)
            except UsageError as exc:
                raise UsageError(f"{args.from_file}: task {n}: {exc}") from None
        specs = [TaskSpec(args.kind, p, **options) for p in _with_context(args.kind, payloads, queue, env)]
        if not specs:
            raise UsageError(f"no tasks in {args.from_file} (blank lines and # comments are skipped)")
        results = queue.enqueue_many(specs)
        if args.json:
            _json_out([dict(r.task.to_dict(), deduplicated=r.deduplicated) for r in results])
            _autostart(args, queue)
            return 0
        new = [r.task.id for r in results if not r.deduplicated]
        dups = len(results) - len(new)
        span = f" ({task_ref(new[0])}–{task_ref(new[-1])})" if len(new) > 1 else (f" ({task_ref(new[0])})" if new else "")
        print(f"queued {len(new)} task(s){span}" + (f"; {dups} already queued" if dups else ""))
        _autostart(args, queue)
        return 0
    payload = _parse_fields(args.fields)
    _check_fields(queue.registry.get(args.kind), payload)
    if args.command_tail is not None:
        if not args.command_tail:
            raise UsageError("nothing after '--': give the command to run")
        if args.kind != "shell":
            raise UsageError("'-- COMMAND' is for the shell kind; other kinds take key=value fields")
        payload["argv"] = args.command_tail
    payload = _with_context(args.kind, [payload], queue, _env_option(args.env))[0]
    result = queue.enqueue_many([TaskSpec(args.kind, payload, **options)])[0]
    task = result.task
    if args.json:
        _json_out(dict(task.to_dict(), deduplicated=result.deduplicated))
    elif result.deduplicated:
        print(f"already queued as {task.ref} ({task.status}): {task.label}")
    else:
        print(f"queued {task.ref}: {task.label}")
    if task.status == "queued":
        _autostart(args, queue)
    return 0


def _autostart(args, queue) -> None:
    """Work was left queued: make sure a worker runs it (unless autostart is off)."""
    from .core import background

    if queue.distributed or not background.autostart_enabled(queue.config):
        return  # the cluster engine's workers run elsewhere
    try:
        record = background.ensure_worker(queue.home, args.config)
    except OSError as exc:
        _err(f"warning: could not start a background worker: {exc.strerror or exc}")
        return
    if record is not None:
        sys.stderr.write(background.started_line(record) + "\n")


_WORD = None


def split_words(line: str) -> list[str]:
    """Split like a POSIX shell (quotes, backslashes) in linear time.

    shlex.split reads a character at a time and takes seconds on a long value.
    """
    import re

    global _WORD
    if _WORD is None:
        _WORD = re.compile(r"""(?:[^\s'"\\]+|'[^']*'|"(?:[^"\\]|\\.)*"|\\.)+|(\S)""", re.S)
    words = []
    for match in _WORD.finditer(line):
        if match.group(1) is not None:
            raise ValueError("No closing quotation")
        words.append(_unquote(match.group(0)))
    return words


def _unquote(word: str) -> str:
    import re

    def piece(m: re.Match) -> str:
        text = m.group(0)
        if text.startswith("'"):
            return text[1:-1]
        if text.startswith('"'):
            return re.sub(r'\\([\\"$`])', r"\1", text[1:-1])
        if text.startswith("\\"):
            return text[1:]
        return text

    return re.sub(r"""'[^']*'|"(?:[^"\\]|\\.)*"|\\.|[^'"\\]+""", piece, word, flags=re.S)


FROM_LINE_MAX = 16 * 2**20  # bytes in one line of --from
FROM_BYTES_MAX = 64 * 2**20  # bytes of tasks in one --from (held until the one write)
FROM_TASKS_MAX = 100_000  # tasks in one --from (one write, all or nothing)


def _read_lines(kind: str, source: str) -> list[dict]:
    """Payloads from a --from file, read a line at a time.

    Lines end at \n only (one \r before it is dropped): a form feed or U+2028
    in a file name is part of the command, not the start of another one.
    """
    try:
        fh = sys.stdin.buffer if source == "-" else open(source, "rb")
    except OSError as exc:
        raise LazyQueueError(f"cannot read {source}: {exc.strerror}") from None
    payloads = []
    try:
        n = total = 0
        while True:
            try:
                raw = fh.readline(FROM_LINE_MAX + 2)
            except OSError as exc:
                raise LazyQueueError(f"cannot read {source}: {exc.strerror}") from None
            if not raw:
                break
            n += 1
            total += len(raw)
            if total > FROM_BYTES_MAX:
                raise UsageError(f"{source} holds more than {FROM_BYTES_MAX >> 20} MiB of tasks; add them in parts")
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            elif len(raw) > FROM_LINE_MAX:
                raise UsageError(f"line {n} of {source} is longer than {FROM_LINE_MAX >> 20} MiB")
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            try:
                line = raw.decode("utf-8").strip(" \t")
            except UnicodeDecodeError:
                raise LazyQueueError(f"cannot read {source}: line {n} is not UTF-8 text") from None
            if not line or line.startswith("#"):
                continue
            if len(payloads) >= FROM_TASKS_MAX:
                raise UsageError(f"{source} holds more than {FROM_TASKS_MAX:,} tasks; add them in parts")
            if kind == "shell":
                payloads.append({"command": line})
                continue
            try:
                items = split_words(line)
            except ValueError as exc:
                raise UsageError(f"line {n}: {exc}") from None
            payloads.append(_parse_fields(items, where=f"line {n}: "))
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()
    return payloads


# ---------------------------------------------------------------- reading
def _console():
    from rich.console import Console

    # piped output is not cut to 80 columns: a reader or grep wants whole lines
    width = None if sys.stdout.isatty() else 240
    # rich writes its own styling codes; cells are made safe by _cell
    return Console(file=getattr(sys.stdout, "raw", sys.stdout), soft_wrap=False, width=width)


def _cell(value):
    """A table cell from task text: controls shown as characters, and no rich markup ([link=…])."""
    if not isinstance(value, str):
        return value
    from rich.text import Text

    from .core.safe_text import shown

    return Text(shown(value))


def _print_table(table) -> None:
    """Print a table without the spaces Rich pads every line with to the full width."""
    import re

    console = _console()
    with console.capture() as captured:
        console.print(table)
    trailing = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$")
    out = getattr(sys.stdout, "raw", sys.stdout)  # the cells were made safe; keep rich's own codes
    out.write("".join(trailing.sub(r"\1", line) + "\n" for line in captured.get().splitlines()))


def _status_word(status: str) -> str:
    return f"{STATUS_SYMBOL.get(status, '?')} {status}"


def _progress_text(task) -> str:
    if task.status == "completed":
        return "100%"
    if task.progress is None:
        return "…" if task.status == "running" else ""
    shown = min(99, int(task.progress)) if task.status == "running" else int(task.progress)
    return f"{shown}%" + (" finalizing" if task.status == "running" and task.progress >= 100 else "")


def _worker_alive(queue) -> bool:
    """Some worker process runs this queue's work (always, as far as `ls` can tell, on the cluster)."""
    from .core import background

    return queue.distributed or bool(background.live_workers(queue.home))


def _undefined_kind(task, queue) -> str:
    """`kind 'encode' is not defined (config.toml)` for a task whose kind left the config."""
    if task.kind in queue.registry:
        return ""
    where = queue.config.path.name if queue.config.path else "no config file"
    return f"kind {task.kind!r} is not defined ({where})"


def _info(task, queue) -> str:
    if task.status == "queued":
        return _undefined_kind(task, queue) or queue.why_waiting(task.id)
    if task.status == "running":
        return ("cancelling… " if task.cancel_requested else "") + (task.progress_label or "")
    if task.error and task.status != "completed":
        first = task.error.strip().splitlines()[0] if task.error.strip() else task.error
        return f"{first} (attempt {task.attempt}/{task.max_attempts})"
    return ""


def _own_wait(task, queue) -> str:
    """The wait of a queued task that its own record tells (a start time to come), else "".

    Such a task waits for its time whatever the others do: `show` need not read them.
    """
    from .core.models import parse_iso

    if task.after or not task.not_before or (parse_iso(task.not_before) or 0) <= time.time():
        return ""
    return _undefined_kind(task, queue) or queue.why_waiting(task.id)


def _ls_json_stream(queue, args) -> bool:
    """`ls --json` written a record at a time by the engine (flat memory at any size); False: not here."""
    if args.kind and args.kind not in queue.registry:
        return False  # the listing says whether the kind is known
    return queue.write_tasks_json(sys.stdout, args.status, args.kind, args.job)


def _queued_infos(queue, tasks) -> dict[int, str]:
    """Why each queued one of `tasks` waits, with its place in line among those waiting only for a slot.

    "next up" only for as many tasks as there are free slots (highest priority, then oldest first).
    The engine tells it from its index when it can; else every queued task is read to place them.
    """
    from .core.line import Line, line_words, waits_for_slot

    waiting = [t for t in tasks if t.status == "queued"]
    if not waiting:
        return {}
    line = queue.queued_line(waiting)
    if line is not None:
        reasons = {t.id: _undefined_kind(t, queue) or line.reasons.get(t.id, "") for t in waiting}
    else:
        exempt = frozenset(k.name for k in queue.registry if not k.uses_slot)
        queued = queue.tasks(status="queued")
        reasons = {t.id: _info(t, queue) for t in queued}
        reasons.update((t.id, _info(t, queue)) for t in waiting if t.id not in reasons)
        order: dict[int, list[int]] = {}
        for t in sorted(queued, key=lambda t: t.id):
            if waits_for_slot(reasons[t.id]) and t.kind not in exempt:
                order.setdefault(t.priority, []).append(t.id)
        running = sum(1 for t in queue.tasks(status="running") if t.kind not in exempt)
        line = Line(counts={p: len(ids) for p, ids in order.items()}, order=order,
                    free=max(0, queue.config.concurrency - running), exempt=exempt)  # the config's global cap
    ready = {t.id for t in waiting if waits_for_slot(reasons[t.id])}
    if ready and not _worker_alive(queue):  # they would start now, but nothing runs them
        from .core.background import NO_WORKER_LINE

        return {t.id: NO_WORKER_LINE if t.id in ready else reasons[t.id] for t in waiting}
    return {t.id: line_words(t, reasons[t.id], line) for t in waiting}


def cmd_ls(args) -> int:
    queue = _open(args, light=True)  # the table's page and the JSON stream need not load every task
    if args.json and _ls_json_stream(queue, args):
        return 0
    if args.kind and args.kind not in queue.registry and not queue.tasks(kind=args.kind):
        raise UsageError(f"unknown kind {args.kind!r} (known kinds: {', '.join(queue.registry.names())})")
    if args.json:
        tasks, older = queue.tasks(status=args.status, kind=args.kind, job=args.job), 0
    else:  # the newest page (or every match), read a record at a time from a light queue
        tasks, older = queue.recent_tasks(1 << 62 if args.all else args.limit, args.status, args.kind, args.job)
    if args.json:
        _json_out([t.to_dict() for t in tasks])
        return 0
    if not tasks:
        print("no tasks" + (" match" if (args.status or args.kind or args.job) else " yet — add one with: lazyqueue add shell -- COMMAND"))
        return 0
    from .core.safe_text import shown
    from .ls_table import colour_on, render, terminal_width

    infos = _queued_infos(queue, tasks)
    rows = []
    for t in tasks:
        job = f"#{t.job_id:03d}" if t.job_id is not None else ""
        info = infos.get(t.id) if t.status == "queued" else _info(t, queue)
        rows.append([shown(str(c or "")) for c in (t.ref, job, t.kind, _status_word(t.status), str(t.priority),
                                                   _progress_text(t), t.label, info)])
    out = getattr(sys.stdout, "raw", sys.stdout)  # the cells were made safe; keep the colour codes
    styles = {3: {_status_word(s): STATUS_STYLE[s] for s in STATUS_STYLE}}
    lines = render(["ID", "JOB", "KIND", "STATUS", "PRI", "PROG", "LABEL", "INFO"], rows, styles,
                   width=terminal_width(), label=6, colour=colour_on(sys.stdout))
    out.write("\n".join(lines) + "\n")
    if older:
        print(f"{older:,} older task(s) not shown: lazyqueue ls --limit N, or --all")
    return 0


def _show_job(queue, job_id: int, as_json: bool) -> int:
    job = queue.job(job_id)
    tasks = queue.tasks(job=job_id)
    if as_json:
        _json_out({"id": job.id, "title": job.title, "stage": job.stage, "created_at": job.created_at,
                   "updated_at": job.updated_at, "meta": job.meta, "tasks": [t.to_dict() for t in tasks]})
        return 0
    print(f"job     #{job.id:03d} {job.title}".rstrip())
    print(f"stage   {job.stage}")
    print(f"created {job.created_at}")
    for n, t in enumerate(tasks):
        print(f"{'tasks' if n == 0 else '':<8}{t.ref} {STATUS_SYMBOL.get(t.status, '?')} {t.status} {t.label}")
    if not tasks:
        print("tasks   none")
    return 0


def _env_text(env: dict) -> str:
    """A saved environment in one line: PATH=(6 dirs) VIRTUAL_ENV=/x FOO=bar, long values cut."""
    parts = []
    for name, value in env.items():
        value = str(value)
        if name.endswith("PATH") and os.pathsep in value:
            value = f"({len(value.split(os.pathsep))} dirs)"
        elif len(value) > 40:
            value = value[:39] + "…"
        parts.append(f"{name}={value}")
    return " ".join(parts)


def cmd_show(args) -> int:
    queue = _open(args, light=True)  # reads the one task (and its job), not every record
    what, ident = args.id
    if what == "job":
        return _show_job(queue, ident, args.json)
    task = queue.get(ident)
    if args.json:
        _json_out(task.to_dict())
        return 0
    rows = [("task", task.ref), ("status", f"{STATUS_SYMBOL.get(task.status, '?')} {task.status}"), ("kind", task.kind)]
    if task.job_id is not None:
        try:
            job = queue.job(task.job_id)
            rows.append(("job", f"#{job.id:03d} {job.title} · {job.stage}"))
        except NotFound:
            rows.append(("job", f"#{task.job_id:03d}"))
    rows += [("label", task.label), ("priority", str(task.priority)), ("attempt", f"{task.attempt}/{task.max_attempts}")]
    if task.status == "queued":
        rows.append(("waiting", _own_wait(task, queue) or _queued_infos(queue, [task]).get(task.id, "")))
    if task.progress is not None or task.progress_label:
        rows.append(("progress", f"{_progress_text(task)} {task.progress_label or ''}".strip()))
    for name in ("dedupe_key", "created_at", "started_at", "finished_at", "not_before", "expires_at", "timeout_s"):
        value = getattr(task, name)
        if value not in (None, ""):
            rows.append((name.replace("_", " "), str(value)))
    if task.after:
        rows.append(("after", " ".join(task_ref(a) for a in task.after)))
    env = task.payload.get("env")
    shown = {k: v for k, v in task.payload.items() if k != "env"} if isinstance(env, dict) else task.payload
    rows.append(("payload", json.dumps(shown, ensure_ascii=False)))
    if isinstance(env, dict) and env:
        rows.append(("env", _env_text(env)))
    if task.result is not None:
        rows.append(("result", json.dumps(task.result, ensure_ascii=False)))
    if task.error:
        rows.append(("error", f"[{task.error_kind}] {task.error}"))
    log = queue.log_path(task.id)
    if log is not None and log.exists():
        rows.append(("log", str(log)))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        lines = str(value).splitlines() or [""]
        print(f"{name:<{width}}  {lines[0]}")
        for more in lines[1:]:
            print(f"{'':<{width}}  {more}")
    return 0


# ---------------------------------------------------------------- changes
def cmd_retry(args) -> int:
    if not args.ids and not args.failed:
        raise UsageError("give task ids or --failed")
    queue = _open(args)
    results = queue.retry_failed() if args.failed else queue.retry(args.ids)
    if args.failed and not results:
        print("no failed tasks")
    for r in results:
        if r.deduplicated:
            print(f"already queued as {r.task.ref}: {r.task.label}")
        else:
            print(f"re-queued {r.task.ref}: {r.task.label}")
    if results:
        _autostart(args, queue)
    return 0


def cmd_cancel(args) -> int:
    from .core import queue as q

    queue = _open(args)
    code = 0
    for tid in args.ids:
        answer = queue.cancel(tid)
        ref = task_ref(tid)
        if answer == q.CANCEL_DONE:
            print(f"cancelled {ref}")
        elif answer == q.CANCEL_SIGNALLED:
            print(f"cancelling {ref} (running; its worker will stop it)")
        elif answer == q.CANCEL_TOO_LATE:
            done = queue.get(tid)
            when = f" at {_local_time(done.finished_at)}" if done.finished_at else ""
            _err(f"{ref} had already completed{when}; nothing to cancel")
            code = 1
        else:
            _err(f"{ref} already {queue.get(tid).status}; nothing to cancel")
            code = 1
    return code


def _local_time(stamp: str) -> str:
    """An ISO time stamp as the user's local time: 14:05, or 2026-03-01 14:05 on another day."""
    from .core.models import parse_iso

    when = parse_iso(stamp)
    if when is None:
        return stamp
    local = time.localtime(when)
    same_day = time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d")
    return time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", local)


def cmd_prune(args) -> int:
    queue = _open(args)
    report = queue.prune()
    count = report if isinstance(report, int) else report.tasks
    where = queue.archive_location()
    policy = (f"retention: newest {queue.config.retention.keep} finished, "
              f"{queue.config.retention.max_age_days:g} days")
    if isinstance(report, int):  # the cluster engine answers a count
        print(f"moved {count} finished task(s) to {where}" if count else f"nothing to prune ({policy})")
        return 0
    print(_prune_line(report, where, policy))
    return 0


def _prune_line(report, where: str, policy: str) -> str:
    """What prune removed, in one line: tasks archived, logs removed, archive entries dropped, bytes."""
    from .kinds.download import human_bytes as _bytes

    if not (report.tasks or report.logs or report.archive_dropped):
        return f"nothing to prune ({policy})"
    parts = [f"moved {report.tasks} finished task(s) to {where}"]
    parts.append(f"removed {report.logs} log(s) ({_bytes(report.log_bytes)})")
    if report.archive_dropped or report.archive_bytes:
        parts.append(f"dropped {report.archive_dropped} oldest archived task(s) ({_bytes(report.archive_bytes)})")
    return "; ".join(parts)


def cmd_kinds(args) -> int:
    queue = _open(args, light=True)
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("KIND", "CAP", "ATTEMPTS", "TIMEOUT", "DEDUPE", "THEN", "SOURCE", "DESCRIPTION"):
        table.add_column(name, overflow="fold")
    for kind in queue.registry:
        dedupe = kind.dedupe if isinstance(kind.dedupe, str) else ("custom" if kind.dedupe else "-")
        cap = str(kind.concurrency) if kind.concurrency else "-"
        if not kind.uses_slot:
            cap += "*"
        table.add_row(*map(_cell, (
            kind.name, cap, str(kind.max_attempts), f"{kind.timeout:g}s" if kind.timeout else "-",
            dedupe, ", ".join(kind.then) or "-", kind.source, kind.description,
        )))
    _print_table(table)
    print(f"global cap: {queue.config.concurrency} running at once")
    for kind in queue.registry:
        if not kind.uses_slot:
            print(f"*{kind.name} waits on work running elsewhere: its tasks take none of the global slots, only its own cap")
    return 0


# ---------------------------------------------------------------- following
def cmd_log(args) -> int:
    queue = _open(args)
    task = queue.get(args.id)
    if queue.distributed:  # the cluster engine
        from .cluster.commands import follow_log

        return follow_log(queue, task, args.follow)
    offset = 0
    out = getattr(sys.stdout, "raw", sys.stdout)  # piped: the log as written
    if out.isatty():
        from .core.safe_text import shown
    else:
        def shown(text, keep_cr):
            return text
    while True:
        chunk, offset = queue.read_log(task.id, offset)
        if chunk:
            out.write(shown(chunk.decode("utf-8", "replace"), keep_cr=True))
            out.flush()
        if not args.follow:
            if offset == 0:
                _err(f"{task.ref} has no output yet ({task.status})")
            return 0
        if queue.get(args.id).status in FINISHED:
            if not queue.read_log(task.id, offset, 1)[0]:
                return 0
            continue
        time.sleep(0.2)  # following a file another process writes: poll it


def cmd_wait(args) -> int:
    queue = _open(args)
    for tid in args.ids:
        queue.get(tid)  # unknown id: error now, not after waiting
    tasks = queue.wait(args.ids, timeout=args.timeout)
    ok = True
    for t in tasks:
        line = f"{STATUS_SYMBOL.get(t.status)} {t.ref} {t.status}"
        if t.status != "completed":
            ok = False
            first = t.error.strip().splitlines()[0] if t.error and t.error.strip() else ""
            if first and first != t.status:  # not "cancelled: cancelled"
                line += f": {first}"
        print(line)
    return 0 if ok else 1


def cmd_worker(args) -> int:
    if args.action:
        from .worker_cli import worker_control

        return worker_control(args, _open(args), _json_out)
    import signal

    from .core import events as ev

    if args.leave_tracked and not args.exit_when_idle:
        raise UsageError("--leave-tracked goes with --exit-when-idle")
    queue = _open(args)
    if queue.distributed:  # the cluster engine
        from .cluster.commands import run_worker

        return run_worker(queue, args.concurrency, args.exit_when_idle, args.quiet, _print_event,
                          leave_tracked=args.leave_tracked)
    from . import worker_cli

    if args.background:
        return worker_cli.run_background(queue, _print_event)
    if not args.quiet:
        queue.subscribe(_print_event, types=(ev.TASK_STARTED, ev.TASK_COMPLETED, ev.TASK_FAILED,
                                              ev.TASK_CANCELLED, ev.TASK_EXPIRED, ev.TASK_QUEUED, ev.WORKER_STATE))

    def on_signal(signum, frame):
        worker = queue.worker
        if worker is None:  # still starting: run_worker() stops the worker it makes
            queue.request_stop()
            return
        if worker.stopping:  # second Ctrl-C: stop now, re-queueing what runs
            worker.grace_s = 0
        else:
            sys.stderr.write(f"lazyqueue: stopping (running tasks get {worker.grace_s:g} s; Ctrl-C again to re-queue them now)\n")
        from .core.signals import soon

        soon(worker.stop, wait=False)  # never inline: the loop may be inside the Event.wait() stop() sets

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    worker_cli.on_hangup(queue)
    gone = queue.run_worker(concurrency=args.concurrency, exit_when_idle=args.exit_when_idle,
                            leave_tracked=args.leave_tracked)
    worker_cli.after_run(queue, args.config)
    if gone:
        if args.quiet:  # said already where events are printed
            _err(gone)
        return 1
    return 0


def _print_event(event) -> None:
    """A worker's line for what it did (what other processes did is theirs to say)."""
    t = event.task
    if event.data.get("remote"):
        return
    if t is None:
        if event.data.get("error"):
            _err(event.data["error"])
        return
    if event.type == "task-queued":
        if "retry_in" not in event.data:
            return
        line = f"↻ {t.ref} retry in {event.data['retry_in']:.1f} s: {(t.error or '').splitlines()[0] if t.error else ''}"
    else:
        line = f"{STATUS_SYMBOL.get(t.status, '?')} {t.ref} {t.status} {t.label}"
        if t.status in ("failed", "expired") and t.error:
            line += f" — {t.error.strip().splitlines()[0] if t.error.strip() else t.error}"
    try:
        print(line, flush=True)
    except BrokenPipeError:
        pass


# ---------------------------------------------------------------- run, serve
def _run_args(parser) -> None:
    from .run import arguments

    arguments(parser)


def cmd_run(args) -> int:
    from .run import main as run_main

    if not args.command_tail:
        raise UsageError("give the command after '--': lazyqueue run -- COMMAND ...")
    return run_main(_open(args, light=True), args, args.command_tail)


def _serve_args(parser) -> None:
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (non-loopback needs [serve] allow_remote)")
    parser.add_argument("--show-token", action="store_true", help="print the token clients send, and exit")
    parser.add_argument("--worker", action="store_true", help="run the work in this process instead of the background worker")


def cmd_serve(args) -> int:
    from .serve.cli import main as serve_main

    return serve_main(_open(args), args)


# ---------------------------------------------------------------- TUI
def cmd_cluster(args) -> int:
    from .cluster import commands

    if args.action == "init":
        from .core.config import load_config
        from .core.paths import config_path

        path, named = config_path(args.config)
        return commands.cmd_init(_backend(args, load_config(path, required=named)))
    if args.action == "migrate" and not args.from_home:
        raise UsageError("cluster migrate needs --from HOME (the local state directory to move)")
    queue = _open(args)
    if not queue.distributed:
        raise LazyQueueError("no cluster backend chosen — give --backend postgresql://…, set LAZYQUEUE_BACKEND, "
                             "or [backend] url in the config")
    if args.action == "status":
        return commands.cmd_status(queue, args.json)
    return commands.cmd_migrate(queue, args.from_home)


def cmd_tui(args) -> int:
    queue = _open(args)
    from .tui import run

    return run(queue)


def cmd_demo(args) -> int:
    from .tui import run_demo

    return run_demo(getattr(args, "home", None), getattr(args, "config", None))


def _rm_args(parser) -> None:
    parser.add_argument("ids", type=_task_or_job, nargs="+", metavar="ID", help="tasks (12 or t12) and jobs (#014)")
    parser.add_argument("--yes", "-y", action="store_true", help="remove more than one task without asking")


def cmd_rm(args) -> int:
    queue = _open(args)
    live = {t.id: t for t in queue.tasks()}
    tasks, jobs = {}, []
    for what, ident in args.ids:
        if what == "job":
            jobs.append(queue.job(ident))
            tasks.update((t.id, t) for t in live.values() if t.job_id == ident)
        elif ident in live:
            tasks[ident] = live[ident]
        else:
            queue.get(ident)  # unknown: NotFound; else it is archived already
            raise LazyQueueError(f"{task_ref(ident)} is in the archive already ({queue.archive_location()}); nothing to remove")
    running = {t.id for t in tasks.values() if t.status == "running"}
    if len(tasks) > 1 and not args.yes and not _confirm(f"remove {len(tasks)} tasks ({_refs(tasks)})?"):
        raise UsageError(f"rm would remove {len(tasks)} tasks ({_refs(tasks)}): add --yes to go ahead")
    removed = queue.delete_tasks(list(tasks), cancel_running=True) if tasks else []  # running ones: cancelled first
    for job in jobs:
        try:
            queue.delete_job(job.id)  # a job with no tasks left is gone already
        except NotFound:
            pass
    for t in removed:
        print(f"{'cancelled and removed' if t.id in running else 'removed'} {t.ref}: {t.label}")
    for job in jobs:
        print(f"removed #{job.id:03d}: {job.title}".rstrip())
    return 0


def _refs(tasks: dict) -> str:
    refs = [task_ref(t) for t in tasks]
    return " ".join(refs[:5]) + (f" and {len(refs) - 5} more" if len(refs) > 5 else "")


def _confirm(question: str) -> bool:
    """Ask on the terminal; not a terminal: no (the caller says to add --yes)."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    try:
        return sys.stdin.readline().strip().lower() in ("y", "yes")
    except (OSError, KeyboardInterrupt):
        return False


def _edit_args(parser) -> None:
    parser.add_argument("id", type=_task_id, metavar="ID", help="a queued task (12 or t12)")


def cmd_edit(args) -> int:
    from .edit_cli import run

    return run(args, _open(args), args.id)


def _completions_args(parser) -> None:
    from .completions import SHELLS

    parser.add_argument("shell", choices=SHELLS, help="source <(lazyqueue completions bash) in ~/.bashrc")


def cmd_completions(args) -> int:
    from .completions import script

    sys.stdout.write(script(args.shell))
    return 0


COMMANDS = {
    "tui": cmd_tui,
    "demo": cmd_demo,
    "add": cmd_add,
    "ls": cmd_ls,
    "show": cmd_show,
    "retry": cmd_retry,
    "cancel": cmd_cancel,
    "log": cmd_log,
    "wait": cmd_wait,
    "worker": cmd_worker,
    "prune": cmd_prune,
    "kinds": cmd_kinds,
    "cluster": cmd_cluster,
    "run": cmd_run,
    "serve": cmd_serve,
    "rm": cmd_rm,
    "edit": cmd_edit,
    "completions": cmd_completions,
}

__all__ = ["main", "ConfigError"]
