"""The environment a shell task runs with: PATH and VIRTUAL_ENV, the kind's `env = [...]`, --env."""

from __future__ import annotations

from .helpers import add, lq, ok, run_until_idle


def _output(env, tid):
    return ok(env, "log", str(tid)).stdout.splitlines()[-1]  # after the log's "── attempt 1" header


def test_only_named_variables_travel_with_a_task(cli_env, tmp_path):
    (tmp_path / "config.toml").write_text('[kinds.shell]\nenv = ["FOO"]\n')
    adder = dict(cli_env, FOO="from-config", BAR="given", SECRET="hunter2")
    rec = add(adder, "shell", "--env", "BAR", "--env", "BAZ=set here", "--", "sh", "-c", 'echo "$FOO|$BAR|$BAZ|$SECRET"')
    assert set(rec["payload"]["env"]) == {"PATH", "FOO", "BAR", "BAZ"} | ({"VIRTUAL_ENV"} & set(cli_env))
    worker_env = {k: v for k, v in cli_env.items() if k not in ("FOO", "BAR", "BAZ", "SECRET")}
    run_until_idle(worker_env)
    assert _output(cli_env, rec["id"]).strip() == "from-config|given|set here|"


def test_a_variable_set_where_the_worker_runs_reaches_the_task_unsaved(cli_env):
    rec = add(cli_env, "shell", "--", "sh", "-c", 'echo "token=$API_TOKEN"')
    assert "API_TOKEN" not in rec["payload"]["env"]
    run_until_idle(dict(cli_env, API_TOKEN="s3cret"))
    assert _output(cli_env, rec["id"]).strip() == "token=s3cret"
    assert "s3cret" not in ok(cli_env, "ls", "--json").stdout


def test_env_mistakes_are_one_line(cli_env, tmp_path):
    for args, text in [
        (["shell", "--env", "NOT_SET_ANYWHERE", "--", "true"], "NOT_SET_ANYWHERE is not set here (give --env NOT_SET_ANYWHERE=VALUE)"),
        (["shell", "--env", "1X=2", "--", "true"], "not a variable name"),
        (["download", "--env", "X=1", "url=https://example.org/a"], "--env is for commands"),
    ]:
        proc = lq(cli_env, "add", *args)
        assert proc.returncode == 2 and text in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    (tmp_path / "config.toml").write_text('[kinds.shell]\nenv = "FOO"\n')
    proc = lq(cli_env, "ls")
    assert proc.returncode == 1 and "kinds.shell.env: must be a list of variable names" in proc.stderr


def test_show_prints_the_saved_environment_in_one_line(cli_env):
    path = ":".join(f"/opt/tool{n}/bin" for n in range(6))
    rec = add(dict(cli_env, PATH=path + ":" + cli_env["PATH"]), "shell", "--env", "LONG=" + "x" * 80, "--", "true")
    out = ok(cli_env, "show", str(rec["id"])).stdout
    env_line = [line for line in out.splitlines() if line.startswith("env ")][0]
    n_dirs = len(rec["payload"]["env"]["PATH"].split(":"))
    assert f"PATH=({n_dirs} dirs)" in env_line and "LONG=" + "x" * 39 + "…" in env_line
    payload_line = [line for line in out.splitlines() if line.startswith("payload ")][0]
    assert "/opt/tool0" not in payload_line


def test_a_config_command_kind_runs_with_its_saved_environment(cli_env, tmp_path):
    (tmp_path / "config.toml").write_text("[kinds.greet]\ncommand = ['sh', '-c', 'echo hello $WHO', '{name}']\n")
    rec = add(cli_env, "greet", "name=x", "--env", "WHO=world")
    run_until_idle(cli_env)
    assert _output(cli_env, rec["id"]).strip() == "hello world"
