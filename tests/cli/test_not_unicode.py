"""A command line holding a byte that is not UTF-8 is queued, shown, listed as JSON and run with that byte."""

from __future__ import annotations

import json
import subprocess

from .helpers import PYTHON, lq, ok, run_until_idle


def test_a_non_utf8_byte_in_a_command_is_kept_and_run(cli_env, isolated_home):
    env = dict(cli_env, LAZYQUEUE_AUTOSTART="0", LC_ALL="C.UTF-8")
    added = subprocess.run([PYTHON, "-m", "lazyqueue", "add", "--json", "shell", "--", "printf", b"\xff-ok\\n"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0 and added.stderr == "", added.stderr  # no traceback
    tid = json.loads(added.stdout)["id"]
    listed = ok(env, "ls")  # stdout decodes as UTF-8: the byte is shown as a stand-in
    assert "\ufffd-ok" in listed.stdout
    (rec,) = json.loads(ok(env, "ls", "--json").stdout)
    assert rec["payload"]["argv"] == ["printf", "\udcff-ok\\n"]  # the same text, through a JSON escape
    assert "\ufffd" in ok(env, "show", str(tid)).stdout
    run_until_idle(env)
    assert json.loads(ok(env, "show", str(tid), "--json").stdout)["status"] == "completed"
    assert (isolated_home / "logs" / f"{tid}.log").read_bytes().endswith(b"\xff-ok\n")  # the byte itself ran
    assert b"\\udcff" in (isolated_home / "tasks.journal").read_bytes() + (isolated_home / "tasks.json").read_bytes()
    odd_filter = lq(env, "ls", "--kind", "sh\udcffell")  # a filter with such text: one line, no traceback
    assert odd_filter.returncode == 2 and odd_filter.stderr.count("\n") == 1 and "unknown kind" in odd_filter.stderr
