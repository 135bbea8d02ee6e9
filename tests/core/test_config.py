"""The TOML config: command kinds, overrides of built-ins, and every bad config."""

from __future__ import annotations

import json
import sys

import pytest

from lazyqueue.core.config import load_config
from lazyqueue.core.errors import ConfigError, UsageError
from lazyqueue import Queue
from lazyqueue.core.registry import Backoff


def write(path, text):
    path.write_text(text)
    return path


def make_queue(home, config_file, text):
    write(config_file, text)
    return Queue(home, config=config_file, plugins=False)


def test_empty_config_gives_defaults(home, config_file):
    q = make_queue(home, config_file, "")
    assert q.config.concurrency == 2
    assert q.config.retention.keep == 1000
    q.close()


def test_full_config_is_read(home, config_file):
    q = make_queue(home, config_file, """
[worker]
concurrency = 3
grace = 1.5

[retention]
keep = 10
max_age_days = 2

[kinds.encode]
command = ["ffmpeg", "-i", "{input}", "{output}"]
concurrency = 1
dedupe = "encode:{input}"
max_attempts = 3
backoff = { base = 5, factor = 2, max = 300 }
timeout = 3600
priority = 7
then = ["thumbnail"]

[kinds.thumbnail]
command = ["convert", "{output}", "thumb.png"]
""")
    assert q.config.concurrency == 3 and q.config.grace_s == 1.5
    assert q.taskfile.retention.keep == 10 and q.taskfile.retention.max_age_days == 2
    kind = q.registry.get("encode")
    assert kind.concurrency == 1 and kind.max_attempts == 3 and kind.timeout == 3600 and kind.priority == 7
    assert kind.backoff == Backoff(base=5, factor=2, max=300)
    assert kind.then == ("thumbnail",)
    assert [f.name for f in kind.fields] == ["input", "output"]
    assert all(f.required for f in kind.fields)
    assert q.caps().per_kind["encode"] == 1
    task, dup = q.enqueue("encode", {"input": "a.mov", "output": "a.mp4"})
    assert task.dedupe_key == "encode:a.mov" and task.priority == 7 and task.max_attempts == 3 and task.timeout_s == 3600
    assert q.enqueue("encode", {"input": "a.mov", "output": "b.mp4"}).deduplicated
    q.close()


def test_command_placeholders_are_required_fields(home, config_file):
    q = make_queue(home, config_file, '[kinds.encode]\ncommand = ["ffmpeg", "-i", "{input}", "{output}"]\n')
    with pytest.raises(UsageError) as info:
        q.enqueue("encode", {"input": "a.mov"})
    assert "output=…" in str(info.value)
    assert q.tasks() == []
    q.close()


def test_command_values_are_whole_argv_items_never_shell_interpolated(home, config_file, tmp_path):
    script = "import sys, json; print('::result ' + json.dumps(sys.argv[1:]))"
    marker = tmp_path / "pwned"
    q = make_queue(home, config_file, f"""
[kinds.echo]
command = [{json.dumps(sys.executable)}, "-c", {json.dumps(script)}, "{{value}}", "x-{{value}}-y"]
""")
    evil = f"a b; echo pwned > {marker}; $(touch {marker})"
    task, _ = q.enqueue("echo", {"value": evil})
    q.start_worker()
    [done] = q.wait([task.id], timeout=20, poll=0.02)
    assert done.status == "completed", done.error
    assert done.result == [evil, f"x-{evil}-y"]
    assert not marker.exists()
    q.close()


def test_shell_concurrency_override(home, config_file):
    q = make_queue(home, config_file, "[kinds.shell]\nconcurrency = 1\n")
    shell = q.registry.get("shell")
    assert shell.concurrency == 1 and shell.handler is not None
    assert q.caps().per_kind["shell"] == 1
    q.close()


def test_a_built_in_cannot_be_redefined_as_a_command(home, config_file):
    write(config_file, '[kinds.shell]\ncommand = ["true"]\n')
    with pytest.raises(ConfigError) as info:
        Queue(home, config=config_file, plugins=False)
    assert str(config_file) in str(info.value) and "kinds.shell.command" in str(info.value)


@pytest.mark.parametrize(
    "text,key,problem",
    [
        ("[worker]\nconcurency = 2\n", "worker.concurency", "unknown key"),
        ("colour = true\n", "colour", "unknown key"),
        ('[kinds.encode]\ncommand = ["x"]\ntimeuot = 3\n', "kinds.encode.timeuot", "unknown key"),
        ('[kinds.encode]\ncommand = ["x"]\nbackoff = { base = 1, step = 2 }\n', "kinds.encode.backoff.step", "unknown key"),
        ('[worker]\nconcurrency = "two"\n', "worker.concurrency", "whole number"),
        ("[worker]\nconcurrency = -1\n", "worker.concurrency", "≥ 1"),
        ("[worker]\nconcurrency = 0\n", "worker.concurrency", "≥ 1"),
        ('[kinds.encode]\ncommand = ["x"]\nconcurrency = -2\n', "kinds.encode.concurrency", "≥ 1"),
        ('[kinds.encode]\ncommand = ["x"]\ntimeout = "1h"\n', "kinds.encode.timeout", "number"),
        ('[kinds.encode]\ncommand = "ffmpeg -i x"\n', "kinds.encode.command", "list of strings"),
        ('[kinds.encode]\ncommand = ["x"]\npriority = 11\n', "kinds.encode.priority", "1..10"),
        ('[kinds.encode]\ncommand = ["x"]\nthen = ["nope"]\n', "kinds.encode.then", "unknown kind 'nope'"),
        ('[kinds.encode]\ncommand = ["x"]\nthen = [1]\n', "kinds.encode.then", "list of kind names"),
        ("[kinds.mystery]\nconcurrency = 1\n", "kinds.mystery", "no such kind"),
        ("[retention]\nkeep = -5\n", "retention.keep", "≥ 0"),
        ("worker = 3\n", "worker", "must be a table"),
    ],
)
def test_bad_config_names_file_key_and_problem(home, config_file, text, key, problem):
    write(config_file, text)
    with pytest.raises(ConfigError) as info:
        Queue(home, config=config_file, plugins=False)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{config_file}: {key}:"), message
    assert problem in message


def test_invalid_toml_names_the_file_and_the_line(home, config_file):
    write(config_file, "[worker]\nconcurrency = = 2\n")
    with pytest.raises(ConfigError) as info:
        Queue(home, config=config_file, plugins=False)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{config_file}: not valid TOML")
    assert "line 2" in message


def test_missing_named_config_file(home, tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        Queue(home, config=missing, plugins=False)
    assert str(info.value) == f"{missing}: config file not found"


def test_missing_default_config_is_empty(tmp_path):
    assert load_config(tmp_path / "absent.toml", required=False).kinds == {}


def test_config_from_the_environment(home, config_file, monkeypatch):
    write(config_file, "[worker]\nconcurrency = 5\n")
    monkeypatch.setenv("LAZYQUEUE_CONFIG", str(config_file))
    q = Queue(home, plugins=False)
    assert q.config.concurrency == 5
    q.close()
    write(config_file, "[worker]\nconcurrency = 0\n")
    with pytest.raises(ConfigError):
        Queue(home, plugins=False)


def test_cwd_placeholders_are_required_fields_too(home, config_file, tmp_path):
    q = make_queue(home, config_file, '[kinds.build]\ncommand = ["pwd"]\ncwd = "{project}"\n')
    with pytest.raises(UsageError, match="project=…"):
        q.enqueue("build", {})
    task, _ = q.enqueue("build", {"project": str(tmp_path)})
    q.start_worker()
    done = q.wait([task.id], timeout=10, poll=0.02)[0]
    assert done.status == "completed", done.error
    assert str(tmp_path) in (home / "logs" / f"{task.id}.log").read_text()
    q.close()


def test_a_config_that_is_not_utf8_is_a_config_error(home, config_file):
    config_file.write_bytes(b"[worker]\nconcurrency = 2  # caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        Queue(home, config=config_file, plugins=False)
    message = str(info.value)
    assert message.startswith(f"{config_file}: ") and "UTF-8" in message and "\n" not in message


def test_a_bad_kind_name_names_the_file_and_the_key(home, config_file):
    write(config_file, '[kinds."two words"]\ncommand = ["true"]\n')
    with pytest.raises(ConfigError) as info:
        Queue(home, config=config_file, plugins=False)
    assert str(info.value).startswith(f"{config_file}: kinds.two words:")


@pytest.mark.parametrize("text,key", [
    ('[kinds.x]\ncommand = ["a"]\ntimeout = nan\n', "kinds.x.timeout"),
    ("[worker]\ngrace = inf\n", "worker.grace"),
    ('[kinds.x]\ncommand = ["a"]\nbackoff = { base = inf }\n', "kinds.x.backoff.base"),
])
def test_numbers_must_be_finite(home, config_file, text, key):
    write(config_file, text)
    with pytest.raises(ConfigError) as info:
        Queue(home, config=config_file, plugins=False)
    assert str(info.value).startswith(f"{config_file}: {key}: must be a number")


def test_shell_concurrency_override_holds_in_the_worker(home, config_file):
    from tests.conftest import wait_until

    q = make_queue(home, config_file, "[kinds.shell]\nconcurrency = 1\n")
    q.start_worker(concurrency=4)
    try:
        a, _ = q.enqueue("shell", {"argv": ["sleep", "30"]})
        b, _ = q.enqueue("shell", {"argv": ["sleep", "30"]})
        wait_until(lambda: q.get(a.id).status == "running", 5, message="first running")
        assert q.get(b.id).status == "queued"
        assert q.why_waiting(b.id) == "cap full: shell 1/1"
        assert q.cancel(b.id) == "cancelled"
        q.cancel(a.id)
        assert q.wait([a.id], timeout=10, poll=0.02)[0].status == "cancelled"
    finally:
        q.stop_worker(grace=0.5)
        q.close()
