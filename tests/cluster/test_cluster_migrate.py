"""`cluster migrate --from HOME`: a local queue moves into the cluster with its ids; the file is untouched."""

from __future__ import annotations

import os

from ..conftest import ROOT
from .helpers import lq


def test_migrate_moves_queued_tasks_jobs_and_history_with_ids_and_leaves_the_file(cluster, tmp_path):
    local = dict(os.environ, PYTHONPATH=str(ROOT), LAZYQUEUE_HOME=str(tmp_path / "local"),
                 LAZYQUEUE_CONFIG=str(cluster.config))
    local.pop("LAZYQUEUE_BACKEND", None)
    for argv in (["add", "shell", "--title", "old", "--", "true"], ["worker", "--exit-when-idle", "-q"],
                 ["add", "shell", "--dedupe", "later", "--", "echo", "moved"]):
        assert lq(local, *argv).returncode == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "local").iterdir() if p.is_file()}
    out = cluster.ok("cluster", "migrate", "--from", str(tmp_path / "local"))
    assert "moved 2 task(s) (1 queued) and 2 job(s)" in out.stdout
    assert {p.name: p.read_bytes() for p in (tmp_path / "local").iterdir() if p.is_file()} == before
    listed = {t["id"]: t for t in cluster.tasks()}
    assert listed[1]["status"] == "completed" and listed[2]["status"] == "queued"
    assert cluster.add("shell", "--dedupe", "later", "--", "x")["deduplicated"] is True
    fresh = cluster.add("shell", "--", "true")
    assert fresh["id"] == 3 and fresh["job_id"] == 3
    cluster.worker("w1")
    assert cluster.wait_status(2, "completed")["attempt"] == 1
    assert cluster.ok("log", "2").stdout.splitlines()[-1] == "moved"
    again = cluster.run("cluster", "migrate", "--from", str(tmp_path / "local"))
    assert again.returncode == 1 and "already holds id" in again.stderr
