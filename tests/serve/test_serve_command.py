"""`lazyqueue serve` as a command: the token, the bind address, and work run by the background worker."""

from __future__ import annotations

import os
import stat
import subprocess

import httpx
import pytest

from lazyqueue.serve import check_host
from lazyqueue.core.errors import LazyQueueError

from ..cli.helpers import PYTHON, lq
from ..conftest import wait_until
from .helpers import shell, start_serving


def test_the_token_is_made_once_and_kept_0600(cli_env, home):
    first = lq(cli_env, "serve", "--show-token")
    assert first.returncode == 0 and len(first.stdout.strip()) >= 32
    assert lq(cli_env, "serve", "--show-token").stdout == first.stdout
    mode = stat.S_IMODE(os.stat(home / "serve.token").st_mode)
    assert mode == 0o600


def test_a_non_loopback_address_is_refused_in_one_line(cli_env):
    proc = lq(cli_env, "serve", "--host", "0.0.0.0", "--port", "0")
    assert proc.returncode == 1
    assert proc.stderr.startswith("lazyqueue: refusing to listen on 0.0.0.0") and proc.stderr.count("\n") == 1
    assert "allow_remote" in proc.stderr


def test_allow_remote_lets_it_through_with_a_warning():
    with pytest.raises(LazyQueueError):
        check_host("192.168.1.5", allow_remote=False)
    assert "token" in check_host("0.0.0.0", allow_remote=True)
    assert check_host("127.0.0.1", allow_remote=False) is None
    assert check_host("::1", allow_remote=False) is None


def test_a_bad_serve_table_is_a_config_error(cli_env, config_file):
    config_file.write_text("[serve]\nallow_remote = 'yes'\n")
    proc = lq(cli_env, "serve", "--show-token")
    assert proc.returncode == 1 and "serve.allow_remote: must be true or false" in proc.stderr


def test_cors_headers_only_for_listed_origins(home, config_file):
    config_file.write_text('[serve]\ncors_origins = ["http://localhost:3000"]\n')
    served = start_serving(home, config=config_file)
    try:
        asked = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
        listed = httpx.options(served.url + "/tasks", headers=asked, timeout=5)
        assert listed.headers.get("access-control-allow-origin") == "http://localhost:3000"
        other = httpx.options(served.url + "/tasks", headers=dict(asked, Origin="http://evil.example"), timeout=5)
        assert "access-control-allow-origin" not in other.headers
    finally:
        served.stop()


def test_serve_queues_and_the_background_worker_runs_the_work(cli_env, home):
    cli_env = dict(cli_env, LAZYQUEUE_AUTOSTART="1")  # the suite turns autostart off; this test is about it
    server = subprocess.Popen([PYTHON, "-m", "lazyqueue", "serve", "--port", "0"], env=cli_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert line.startswith(f"serving {home} on http://127.0.0.1:"), (line, server.poll())
        url = line.split(" on ")[1].split()[0]
        token = (home / "serve.token").read_text().strip()
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        created = client.post("/tasks", json=shell(["sh", "-c", "echo ::result '{\"ok\": true}'"]))
        assert created.status_code == 201
        tid = created.json()["id"]
        done = wait_until(lambda: (r := client.get(f"/tasks/{tid}").json())["status"] == "completed" and r,
                          timeout=30, interval=0.1, message="the task to complete")
        assert done["result"] == {"ok": True}
        client.close()
    finally:
        server.terminate()
        server.wait(15)
        subprocess.run([PYTHON, "-m", "lazyqueue", "worker", "stop"], env=cli_env, capture_output=True, timeout=60)
    assert server.returncode in (0, -15)
    assert "Traceback" not in server.stderr.read()


def test_the_other_commands_never_load_the_serve_stack(cli_env):
    code = ("import sys; from lazyqueue import cli; cli.main(['add', 'shell', '--', 'true']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'sse_starlette', 'anyio')))")
    proc = subprocess.run([PYTHON, "-c", code], env=cli_env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
