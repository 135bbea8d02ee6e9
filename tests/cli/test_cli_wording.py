"""What the CLI says: hints for a mistyped add, help text, ids, ls reasons, wait and cancel lines."""

from __future__ import annotations

import re

from .helpers import add, lq, ok, run_until_idle, task


def test_a_command_without_dashes_is_answered_with_the_form_that_works(cli_env):
    for args, hint in [
        (["shell", "ls", "-la"], "lazyqueue add shell -- ls -la"),
        (["shell", "echo", "hello"], "lazyqueue add shell -- echo hello"),
        (["shell", "--priority", "3", "ls", "-la", "/tmp"], "lazyqueue add shell --priority 3 -- ls -la /tmp"),
    ]:
        proc = lq(cli_env, "add", *args)
        assert proc.returncode == 2, proc.stderr
        assert f"put the command after --: {hint}" in proc.stderr
        assert "lazyqueue add --help" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert lq(cli_env, "ls", "--json").stdout.strip() == "[]"  # nothing was queued


def test_add_help_shows_both_ways_to_give_a_command(cli_env):
    out = ok(cli_env, "add", "--help").stdout
    assert "lazyqueue add shell -- ls -la" in out
    assert "command='make -j4 && make test'" in out


def test_every_argument_of_show_log_and_ls_has_help(cli_env):
    show = ok(cli_env, "show", "--help").stdout
    assert "a task (12 or t12) or a job (#014)" in show and "print the record as JSON" in show
    assert "a task (12 or t12)" in ok(cli_env, "log", "--help").stdout
    ls = ok(cli_env, "ls", "--help").stdout
    for text in ("only tasks in this state", "only tasks of this kind", "only the tasks of this job"):
        assert text in ls


def test_fields_may_follow_options(cli_env):
    rec = add(cli_env, "shell", "--priority", "3", "command=echo hi", "--title", "greeting")
    assert rec["payload"]["command"] == "echo hi" and rec["priority"] == 3


def test_a_hash_means_a_job_never_a_task(cli_env):
    first = add(cli_env, "shell", "--title", "nightly", "--", "true")
    for n in range(2, 25):
        ok(cli_env, "add", "shell", "--", "echo", str(n))
    missing = lq(cli_env, "show", "#030")
    assert missing.returncode == 1 and "no job #030" in missing.stderr
    job = ok(cli_env, "show", f"#{first['job_id']:03d}").stdout
    assert job.startswith(f"job     #{first['job_id']:03d} nightly")
    assert f"t{first['id']} ○ queued true" in job
    assert "task        t24" in ok(cli_env, "show", "24").stdout
    wrong = lq(cli_env, "cancel", "#024")
    assert wrong.returncode == 2 and "'#024' is a job; give a task id" in wrong.stderr
    assert task(cli_env, 24)["status"] == "queued"


def test_ls_shows_priority_place_in_line_and_the_real_reason(cli_env, home):
    from lazyqueue.core import background

    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    record = background.register(home, "foreground")  # a worker is alive (this process): places in line, not "no worker"
    for n in range(4):
        ok(cli_env, "add", "shell", "--", "echo", str(n))
    ok(cli_env, "add", "shell", "--priority", "9", "--", "echo", "urgent")
    ok(cli_env, "add", "shell", "--delay", "3600", "--", "echo", "later")
    rows = {line.split()[0]: line for line in ok(cli_env, "ls").stdout.splitlines()[1:]}
    assert ok(cli_env, "ls").stdout.splitlines()[0].split()[:6] == ["ID", "JOB", "KIND", "STATUS", "PRI", "PROG"]
    assert re.search(r"○ queued\s+9\s", rows["t5"]) and rows["t5"].endswith("next up")  # the highest priority
    assert rows["t1"].endswith("next up")  # two slots: the two first in line
    assert rows["t2"].endswith("3rd in line") and rows["t4"].endswith("5th in line")
    assert "starts at" in rows["t6"]
    background.unregister(record)


def test_wait_and_cancel_lines_say_it_once(cli_env):
    rec = add(cli_env, "shell", "--delay", "3600", "--", "true")
    ok(cli_env, "cancel", str(rec["id"]))
    proc = lq(cli_env, "wait", str(rec["id"]))
    assert proc.returncode == 1 and proc.stdout.strip() == f"⊘ t{rec['id']} cancelled"


def test_tables_carry_no_trailing_spaces(cli_env):
    add(cli_env, "shell", "--", "true")
    for args in (["kinds"], ["ls"]):
        out = ok(cli_env, *args).stdout
        assert out and all(line == line.rstrip() for line in out.splitlines()), args


def test_kinds_says_in_words_what_a_cap_outside_the_global_one_means(cli_env):
    out = ok(cli_env, "kinds").stdout
    assert "(no slot)" not in out
    assert re.search(r"^track\s+50\*\s", out, re.M)
    assert "*track waits on work running elsewhere: its tasks take none of the global slots" in out


def test_times_out_of_range_are_refused_in_words(cli_env):
    for args, text in [
        (["--delay", "1e10"], "expected seconds from 0 to 1e+09 (about 31 years), got '1e10'"),
        (["--delay", "nan"], "expected seconds from 0 to"),
        (["--expires", "0"], "0 would expire the task at once"),
    ]:
        proc = lq(cli_env, "add", "shell", *args, "--", "true")
        assert proc.returncode == 2 and text in proc.stderr, proc.stderr
    assert lq(cli_env, "ls", "--json").stdout.strip() == "[]"
