"""`add --from`: one task per \\n-ended line, read a line at a time, with bounded lines and labels."""

from __future__ import annotations

import json
import time

from lazyqueue.core.taskfile import journal_entries
from tests.cli.helpers import lq, ok, tasks


def test_only_newline_ends_a_line(cli_env, tmp_path):
    odd = ["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
    lines = [f"echo 'a{ch}b'" for ch in odd]
    source = tmp_path / "cmds.txt"
    source.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    out = json.loads(ok(cli_env, "add", "shell", "--from", str(source), "--json").stdout)
    assert [t["payload"]["command"] for t in out] == lines  # one \r dropped, nothing split


def test_a_huge_line_is_refused_without_reading_the_file(cli_env, tmp_path):
    source = tmp_path / "big.txt"
    with open(source, "wb") as fh:
        fh.write(b"echo ok\n")
        fh.write(b"x" * (300 * 1024 * 1024))  # 300 MB with no newline
    started = time.monotonic()
    proc = lq(cli_env, "add", "shell", "--from", str(source))
    assert proc.returncode == 2 and "line 2" in proc.stderr and "longer than 16 MiB" in proc.stderr
    assert "Traceback" not in proc.stderr and time.monotonic() - started < 10
    assert tasks(cli_env) == []  # all or nothing


def test_a_long_command_is_stored_once_not_again_as_label_and_title(cli_env, home, tmp_path):
    command = "echo " + "y" * 100_000
    (tmp_path / "one.txt").write_text(command + "\n")
    out = json.loads(ok(cli_env, "add", "shell", "--from", str(tmp_path / "one.txt"), "--json").stdout)[0]
    assert out["payload"]["command"] == command
    assert len(out["label"]) == 200 and out["label"].endswith("…")
    journal = (home / "tasks.journal").read_bytes()
    entry = journal_entries(home / "tasks.journal")[0]
    assert len(entry["jobs"][0]["title"]) == 200
    assert len(journal) < 100_000 + 5_000  # the command once, not three times


def test_a_too_long_title_or_command_is_refused(cli_env, tmp_path):
    proc = lq(cli_env, "add", "shell", "--title", "t" * 1001, "--", "true")
    assert proc.returncode == 2 and "title is 1,001 characters long; at most 1,000" in proc.stderr
    (tmp_path / "long.txt").write_text("echo " + "z" * 200_000 + "\n")
    proc = lq(cli_env, "add", "shell", "--from", str(tmp_path / "long.txt"))
    assert proc.returncode == 2 and "longer than 128 KiB cannot be run" in proc.stderr
