"""`lazyqueue edit ID`: a queued task's editable fields in $VISUAL / $EDITOR.

The task is written out as TOML (JSON when a value has no TOML spelling, such
as null), the editor runs, and what comes back is checked and applied in one
change. Nothing changes when the editor fails, the file is left as it was, or
what it holds does not check out; then the text is kept beside the task file
and the one-line error says where.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess

from .core.errors import LazyQueueError, UsageError

EDITABLE = ("label", "title", "priority", "not_before", "dedupe_key", "payload")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class NoToml(ValueError):
    """A value TOML cannot spell (null, NaN): the file is JSON instead."""


def fields(task, job) -> dict:
    """What `edit` lets a person change, as it is now."""
    return {
        "label": task.label,
        "title": job.title if job is not None else "",
        "priority": task.priority,
        "not_before": task.not_before or "",
        "dedupe_key": task.dedupe_key or "",
        "payload": dict(task.payload),
    }


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _string(name)


def _string(text: str) -> str:
    # JSON's string escapes are TOML's, except DEL, which TOML wants escaped
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NoToml(value)
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + " }"
    raise NoToml(value)


HINTS = {
    "label": "the task's label (ls, the TUI)",
    "title": "the title of its job",
    "priority": "1 (lowest) … 10 (highest)",
    "not_before": 'start no sooner than this, ISO-8601 UTC ("2026-03-01T14:05:00Z"); "" = as soon as it can',
    "dedupe_key": '"" = none',
}


def render(ref: str, kind: str, values: dict) -> tuple[str, str]:
    """(text, suffix): TOML with a comment per field, or JSON when TOML cannot hold a value."""
    try:
        lines = [f"# lazyqueue edit {ref} ({kind}): change what you like, save and quit to apply.",
                 "# Nothing changes if you quit without saving or the editor fails."]
        for name in EDITABLE[:-1]:
            lines.append(f"{name} = {_value(values[name])}  # {HINTS[name]}")
        lines.append("")
        lines.append("[payload]  # what the kind runs" + (": argv = [...] as given, or command = \"…\" through sh -c"
                                                            if kind == "shell" else ""))
        for name, value in values["payload"].items():
            lines.append(f"{_key(str(name))} = {_value(value)}")
        return "\n".join(lines) + "\n", ".toml"
    except NoToml:
        return json.dumps(values, ensure_ascii=False, indent=2) + "\n", ".json"


def parse(text: str, suffix: str) -> dict:
    """The fields a person saved; UsageError in one line when they do not parse."""
    if suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"not valid TOML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError("expected the fields of the task")
    when = data.get("not_before")
    if hasattr(when, "isoformat"):  # written as a TOML date-time, without the quotes
        data["not_before"] = when.isoformat()
    unknown = [name for name in data if name not in EDITABLE]
    if unknown:
        raise UsageError(f"{unknown[0]!r} cannot be edited (editable: {', '.join(EDITABLE)})")
    return data


def editor_command() -> list[str]:
    import shlex

    text = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise LazyQueueError(f"cannot read the editor command {text!r} ($VISUAL/$EDITOR): {exc}") from None
    return words or ["vi"]


def run(args, queue, task_id: int) -> int:
    """Open the editor on the task; apply what comes back."""
    import tempfile

    from .core.errors import NotFound

    if not hasattr(queue, "edit"):
        raise LazyQueueError("edit works on the local task file only, not on the cluster engine yet")
    task = queue.get(task_id)
    if task.status != "queued":
        raise LazyQueueError(f"{task.ref} is {task.status}; only a queued task can be edited")
    try:
        job = queue.job(task.job_id) if task.job_id is not None else None
    except NotFound:
        job = None
    before = fields(task, job)
    text, suffix = render(task.ref, task.kind, before)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a byte of its command line or environment that is not UTF-8: no text file holds it
        raise LazyQueueError(f"{task.ref} holds a byte that is not UTF-8 (in its command or environment), which "
                             f"cannot be edited as text; 'lazyqueue rm {task.ref}' and add it again") from None
    fd, name = tempfile.mkstemp(prefix=f"edit-{task.ref}-", suffix=suffix, dir=queue.home)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)

    def kept(why: str) -> LazyQueueError:
        return LazyQueueError(f"{why}; your text is kept in {name}")

    command = editor_command()
    try:
        done = subprocess.run([*command, name])
    except OSError as exc:
        os.unlink(name)
        raise LazyQueueError(f"cannot run the editor {command[0]!r}: {exc.strerror or exc} (set $VISUAL or $EDITOR)") from None
    with open(name, encoding="utf-8", errors="replace") as fh:
        edited = fh.read()
    if done.returncode != 0:
        if edited == text:
            os.unlink(name)
            raise LazyQueueError(f"the editor exited {done.returncode}; {task.ref} unchanged")
        raise kept(f"the editor exited {done.returncode}; {task.ref} unchanged")
    if edited == text or not edited.strip():
        os.unlink(name)
        print(f"{task.ref} unchanged")
        return 0
    try:
        after = parse(edited, suffix)
        changes = {k: v for k, v in after.items() if before.get(k) != v}
        if not changes:
            os.unlink(name)
            print(f"{task.ref} unchanged")
            return 0
        new = queue.edit(task_id, changes)
    except LazyQueueError as exc:
        raise kept(f"{task.ref} not edited: {exc}") from None
    os.unlink(name)
    followed = {n for n in ("label", "dedupe_key") if getattr(new, n) != getattr(task, n)}  # made from the payload
    print(f"edited {new.ref}: {', '.join(sorted(set(changes) | followed))}")
    return 0
