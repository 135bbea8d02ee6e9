"""The CLI on the cluster engine: init, add, worker processes as hosts, ls/show/log, status, errors."""

from __future__ import annotations

import json
import os

from ..conftest import ROOT
from .helpers import lq


def test_tasks_added_anywhere_run_on_worker_processes_and_ls_shows_them(cluster):
    a = cluster.add("shell", "--", "sh", "-c", "echo from-$0", "a")
    b = cluster.add("shell", "--priority", "9", "--", "echo", "second", host="laptop")
    assert a["status"] == "queued" and a["id"] != b["id"]
    assert cluster.worker("gpu-box")
    cluster.worker("build-1")
    for t in (a, b):
        done = cluster.wait_status(t["id"], "completed")
        assert done["attempt"] == 1 and done["finished_at"] and done["owner"] is None
    listed = {t["id"]: t for t in cluster.tasks()}
    assert set(listed) >= {a["id"], b["id"]}
    assert listed[b["id"]]["priority"] == 9
    assert cluster.ok("log", str(a["id"]), host="elsewhere").stdout.splitlines()[-1] == "from-a"
    status = json.loads(cluster.ok("cluster", "status", "--json").stdout)
    assert len(status["workers"]) == 2 and all(w["alive"] for w in status["workers"])
    assert {w["pid"] for w in status["workers"]} == {p.pid for p in cluster.workers}
    assert status["tasks"]["completed"] == 2
    text = cluster.ok("cluster", "status").stdout
    assert "2 workers on 1 host" in text


def test_dedupe_and_json_contract_match_the_local_engine(cluster):
    first = cluster.add("shell", "--dedupe", "k1", "--", "true")
    again = cluster.add("shell", "--dedupe", "k1", "--", "false")
    assert again["deduplicated"] is True and again["id"] == first["id"]
    assert set(first) - {"deduplicated"} == set(cluster.task(first["id"]))


def test_bad_url_unreachable_server_and_missing_schema_are_one_line_with_the_password_masked(postgres, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), LAZYQUEUE_HOME=str(tmp_path / "h"))
    down = lq(env, "--backend", "postgresql://alice:s3cret@127.0.0.1:9/queue", "ls")
    assert down.returncode == 1 and down.stdout == ""
    assert len(down.stderr.splitlines()) == 1 and "s3cret" not in down.stderr
    assert "postgresql://alice:***@127.0.0.1:9/queue" in down.stderr and "is PostgreSQL running" in down.stderr
    bare = postgres.createdb("lq_bare")
    missing = lq(dict(env, LAZYQUEUE_BACKEND=bare), "add", "shell", "--", "true")
    assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1
    assert "no lazyqueue schema" in missing.stderr and "cluster init" in missing.stderr
    bad = lq(env, "--backend", "postgresql://bob:pw@host:notaport/db", "ls")
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1 and "pw@" not in bad.stderr
    nodb = lq(env, "--backend", bare.replace("lq_bare", "lq_nonexistent"), "ls")
    assert nodb.returncode == 1 and len(nodb.stderr.splitlines()) == 1 and "lq_nonexistent" in nodb.stderr


def test_cluster_init_is_idempotent_and_backend_comes_from_the_config_too(cluster_url, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'[backend]\nurl = "{cluster_url}"\n')
    env = dict(os.environ, PYTHONPATH=str(ROOT), LAZYQUEUE_HOME=str(tmp_path / "h"), LAZYQUEUE_CONFIG=str(config))
    env.pop("LAZYQUEUE_BACKEND", None)
    again = lq(env, "cluster", "init")
    assert again.returncode == 0 and "up to date" in again.stdout
    added = lq(env, "add", "shell", "--", "true")
    assert added.returncode == 0, added.stderr
    assert lq(env, "ls", "--json").stdout.count('"kind": "shell"') == 1
