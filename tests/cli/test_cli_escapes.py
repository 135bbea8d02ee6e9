"""Terminal controls carried by task text are shown as characters, never sent to the terminal."""

from __future__ import annotations

import json

from lazyqueue.core.models import Job
from lazyqueue.core.safe_text import json_text, shown
from lazyqueue.core.state import Change
from lazyqueue.core.taskfile import TaskFile
from tests.cli.helpers import lq
from tests.core.helpers import add_task

OSC52 = "\x1b]52;c;cm0gLXJmIH4K\x07"  # a clipboard write
CLEAR = "\x1b[2J"
C1_CSI = "\x9b31m"  # an 8-bit CSI
RLO = "\u202e"
HOSTILE = f"evil{OSC52}{CLEAR}{C1_CSI}{RLO}txt.exe"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def _hostile_queue(home):
    store = TaskFile(home)
    with store.lock:
        store.head()
        job = Job(id=store.next_job_id(), title=HOSTILE, stage=f"stage{CLEAR}")
        store.commit(Change(jobs=[job]))
    add_task(store, kind="shell", status="failed", label=HOSTILE, error=f"boom{OSC52}", job_id=job.id,
             payload={"command": HOSTILE}, progress_label=f"p{CLEAR}")
    store.close()


def _clean(out: str) -> None:
    for ch in RAW:
        assert ch not in out, repr(out)


def test_ls_show_and_wait_show_controls_as_characters(home, cli_env):
    _hostile_queue(home)
    for args in (["ls"], ["show", "1"], ["wait", "1"], ["show", "#1"]):
        proc = lq(cli_env, *args)
        assert proc.returncode in (0, 1), proc.stderr
        _clean(proc.stdout + proc.stderr)
    shown_ls = lq(cli_env, "ls").stdout
    assert "evil␛]52;c;cm0gLXJmIH4K␇␛[2J" in shown_ls
    assert "␛]52" in lq(cli_env, "wait", "1").stdout  # the error line


def test_json_keeps_the_value_and_sends_no_raw_control(home, cli_env):
    _hostile_queue(home)
    for args in (["ls", "--json"], ["show", "1", "--json"]):
        out = lq(cli_env, *args).stdout
        _clean(out)
        data = json.loads(out)
        record = data[0] if isinstance(data, list) else data
        assert record["label"] == HOSTILE and record["error"] == f"boom{OSC52}"


def test_rich_markup_in_a_label_makes_no_hyperlink(home, cli_env):
    store = TaskFile(home)
    add_task(store, kind="shell", label="[link=https://evil.example]click[/link] [bold]x")
    proc = lq(cli_env, "ls")
    assert "[link=https://evil.example]click[/link]" in proc.stdout
    assert "\x1b]8" not in proc.stdout


def test_shown_keeps_length_tabs_and_newlines():
    assert shown("a\tb\nc") == "a\tb\nc"
    assert shown("\x1b[2J\x7f\x85") == "␛[2J␡\ufffd"
    assert len(shown(HOSTILE)) == len(HOSTILE)
    assert json.loads(json_text(json.dumps(HOSTILE, ensure_ascii=False))) == HOSTILE
