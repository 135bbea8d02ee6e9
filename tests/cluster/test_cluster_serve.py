"""`lazyqueue serve --backend postgresql://…`: the HTTP API and its event stream over the cluster engine."""

from __future__ import annotations

import signal
import subprocess
from types import SimpleNamespace

import httpx

from ..conftest import wait_until
from ..serve.helpers import EventReader
from .helpers import PYTHON


def test_serve_on_the_cluster_adds_a_task_reads_it_back_and_streams_its_transitions(cluster):
    env = cluster.env("web")
    token = cluster.ok("--backend", cluster.url, "serve", "--show-token", host="web").stdout.strip()
    proc = subprocess.Popen([PYTHON, "-m", "lazyqueue", "--backend", cluster.url, "serve", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert " on http://127.0.0.1:" in line, (line, proc.poll() is not None and proc.stderr.read())
        url = line.split(" on ", 1)[1].split()[0]
        reader = EventReader(SimpleNamespace(url=url, server=SimpleNamespace(token=token)))
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=15)
        try:
            created = client.post("/tasks", json={"kind": "shell", "payload": {"argv": ["sh", "-c", "echo over-http"]},
                                                  "title": "from the API"})
            assert created.status_code == 201, created.text
            tid = created.json()["id"]
            read = client.get(f"/tasks/{tid}")
            assert read.status_code == 200 and read.json()["id"] == tid and read.json()["kind"] == "shell"
            assert cluster.task(tid)["status"] == "queued"  # in the cluster's database, for any worker
            cluster.worker("runner")
            done = wait_until(lambda: (r := client.get(f"/tasks/{tid}").json())["status"] == "completed" and r,
                              timeout=30, interval=0.1, message="the task completed, read over HTTP")
            assert done["attempt"] == 1 and done["finished_at"]

            def transitions() -> list[str]:
                return [e["event"] for e in reader.snapshot() if e["data"]["task"]["id"] == tid]

            wait_until(lambda: "task-completed" in transitions(), timeout=15, interval=0.05,
                       message="the completion on the stream")
            assert transitions() == ["task-queued", "task-started", "task-completed"]
            statuses = [e["data"]["task"]["status"] for e in reader.snapshot() if e["data"]["task"]["id"] == tid]
            assert statuses == ["queued", "running", "completed"]
            log = client.get(f"/tasks/{tid}/log")
            assert log.status_code == 200 and "over-http" in log.text
        finally:
            client.close()
            reader.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
