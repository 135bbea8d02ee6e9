"""Config checked when it loads, through the real CLI: templates, fields, a missing file, a removed kind."""

from __future__ import annotations

from .helpers import PYTHON, add, lq, ok, run_until_idle, task

ENCODE = "[kinds.encode]\ncommand = ['ffmpeg', '-i', '{input}', '{output}']\n"


def _one_line_error(proc, *texts):
    assert proc.returncode == 1, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for text in texts:
        assert text in proc.stderr, proc.stderr


def test_templates_are_checked_against_the_kinds_fields_when_the_config_loads(cli_env, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(ENCODE + "dedupe = 'encode:{inptu}'\n")
    _one_line_error(lq(cli_env, "kinds"), str(config), "kinds.encode.dedupe", "{inptu} is not a field", "input, output")
    config.write_text(ENCODE + "dedupe = 'encode:{input'\n")
    _one_line_error(lq(cli_env, "ls"), "kinds.encode.dedupe", "unmatched '{'", "{{")
    config.write_text("[kinds.encode]\ncommand = ['ffmpeg', '-i', '{input']\n")
    _one_line_error(lq(cli_env, "ls"), "kinds.encode.command", "unmatched '{'")
    config.write_text("[kinds.encode]\ncommand = ['sort', '{file:pth}']\n")
    _one_line_error(lq(cli_env, "ls"), "kinds.encode.command", "unknown guard {file:pth}", "{file:path}")
    config.write_text("[kinds.shell]\ndedupe = 'sh:{comand}'\n")
    _one_line_error(lq(cli_env, "ls"), "kinds.shell.dedupe", "{comand} is not a field")
    config.write_text(ENCODE + "backoff = { base = 5, jitter = 20 }\n")
    _one_line_error(lq(cli_env, "ls"), "kinds.encode.backoff.jitter", "fraction from 0 to 1")
    config.write_text(ENCODE.replace("'{output}'", "'{output}', '{\"json\": 1}'")
                      + "dedupe = 'encode:{input}'\nlabel = 'encode {{literal}} {input}'\n"
                      "backoff = { base = 5, factor = 2, max = 300, jitter = 0.1 }\n")
    assert "encode:{input}" in ok(cli_env, "kinds").stdout


def test_an_unknown_field_of_a_command_kind_is_refused_at_add(cli_env, tmp_path):
    (tmp_path / "config.toml").write_text(ENCODE)
    proc = lq(cli_env, "add", "encode", "input=a.mov", "output=a.mp4", "extra=1")
    assert proc.returncode == 2
    assert "kind 'encode' has no field 'extra' (its fields: input, output)" in proc.stderr
    assert add(cli_env, "encode", "input=a.mov", "output=a.mp4")["payload"]["input"] == "a.mov"
    src = tmp_path / "list.txt"
    src.write_text("input=b.mov output=b.mp4\ninput=c.mov output=c.mp4 note=x\n")
    proc = lq(cli_env, "add", "encode", "--from", str(src))
    assert proc.returncode == 2 and f"{src}: task 2: kind 'encode' has no field 'note'" in proc.stderr
    (tmp_path / "config.toml").write_text(ENCODE + "fields = ['note']\nlabel = 'encode {input} ({note})'\n")
    assert ok(cli_env, "add", "encode", "--from", str(src)).stdout.startswith("queued 2 task(s)")
    assert "encode c.mov (x)" in ok(cli_env, "ls").stdout


def test_the_path_guard_keeps_a_value_from_becoming_an_option(cli_env, tmp_path):
    out = tmp_path / "args.txt"
    script = 'import sys; open(sys.argv[1], "w").write("|".join(sys.argv[2:]))'
    (tmp_path / "config.toml").write_text(
        f"[kinds.record]\ncommand = ['{PYTHON}', '-c', '{script}', '{{out}}', '{{file:path}}', '{{file}}']\n")
    rec = add(cli_env, "record", f"out={out}", "file=--output=X")
    run_until_idle(cli_env)
    assert task(cli_env, rec["id"])["status"] == "completed"
    assert out.read_text() == "./--output=X|--output=X"


def test_a_missing_config_named_by_the_environment_is_a_warning(cli_env, tmp_path):
    cli_env["LAZYQUEUE_CONFIG"] = str(tmp_path / "gone.toml")
    proc = lq(cli_env, "kinds")
    assert proc.returncode == 0 and "shell" in proc.stdout
    assert f"warning: {tmp_path / 'gone.toml'}: config file not found (named by LAZYQUEUE_CONFIG)" in proc.stderr
    assert "Traceback" not in proc.stderr
    explicit = lq(cli_env, "--config", str(tmp_path / "gone.toml"), "kinds")
    assert explicit.returncode == 1 and "config file not found" in explicit.stderr


def test_a_task_whose_kind_left_the_config_says_so(cli_env, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(ENCODE)
    rec = add(cli_env, "encode", "input=a.mov", "output=a.mp4")
    config.write_text("")
    line = [row for row in ok(cli_env, "ls").stdout.splitlines() if row.startswith(f"t{rec['id']} ")][0]
    assert line.endswith("kind 'encode' is not defined (config.toml)")
    assert "waiting     kind 'encode' is not defined (config.toml)" in ok(cli_env, "show", str(rec["id"])).stdout


def test_exit_when_idle_leaves_a_task_whose_kind_is_not_defined_queued(cli_env, tmp_path):
    """Nothing in the worker can run it, like a task whose dependency failed: the worker exits."""
    config = tmp_path / "config.toml"
    config.write_text(ENCODE)
    orphan = add(cli_env, "encode", "input=a.mov", "output=a.mp4")
    config.write_text("")
    runnable = add(cli_env, "shell", "--", "true")
    proc = lq(cli_env, "worker", "--exit-when-idle", timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert task(cli_env, runnable["id"])["status"] == "completed"
    assert task(cli_env, orphan["id"])["status"] == "queued"
    assert "kind 'encode' is not defined" in ok(cli_env, "show", str(orphan["id"])).stdout
    assert "a kind nothing here defines" in " ".join(ok(cli_env, "worker", "--help").stdout.split())
