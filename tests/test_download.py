"""The built-in `download` kind, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import threading
import urllib.error
from pathlib import Path

import pytest

from tests.conftest import wait_until
from lazyqueue import Cancelled, FatalError, Queue, RetryableError, UsageError
from lazyqueue.core.context import TaskContext
from lazyqueue.core.models import Task
from lazyqueue.core.registry import Backoff
from lazyqueue.kinds import download as dl

BODY = bytes(range(256)) * 1024  # 256 kB


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802
        server = self.server
        with server.lock:
            server.hits[self.path] = server.hits.get(self.path, 0) + 1
            hits = server.hits[self.path]
        route = self.path.split("?")[0]
        if route.startswith("http://"):  # asked as a proxy: the request line holds the whole URL
            server.proxied.append(self.path)
            route = "/" + route.split("/", 3)[3]
        if route == "/file.bin":
            self._send(200, BODY)
        elif route == "/nolength.bin":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.write(BODY)
        elif route == "/flaky.bin":
            if hits <= server.flaky_failures:
                self._send(503, b"busy")
            else:
                self._send(200, BODY)
        elif route == "/missing.bin":
            self._send(404, b"not here")
        elif route == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/file.bin")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/to-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/secret.bin")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/rtl":  # reads "report_fdp.exe"… as "report_exe.pdf" on a screen
            self._send(200, BODY, {"Content-Disposition": "attachment; filename*=UTF-8''report_%E2%80%AEfdp.exe"})
        elif route == "/long":
            self._send(200, BODY, {"Content-Disposition": "attachment; filename*=UTF-8''" + "%C3%A9" * 300 + ".tar.gz"})
        elif route == "/named":
            self._send(200, BODY, {"Content-Disposition": 'attachment; filename="report 2026.csv"'})
        elif route == "/stall.bin":
            # half the body, then hold the connection until the test lets go
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[: len(BODY) // 2])
            self.wfile.flush()
            server.stalled.set()
            server.release.wait(20)
        elif route == "/hang":
            server.stalled.set()  # no status line at all until the test lets go
            server.release.wait(20)
        elif route == "/short.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:1000])
        else:
            self._send(404, b"no route")

    def _send(self, code, body, headers=None):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.lock = threading.Lock()
    srv.hits = {}
    srv.proxied = []
    srv.flaky_failures = 1
    srv.stalled = threading.Event()
    srv.release = threading.Event()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


class Reporter:
    """Stands in for the worker: records what a handler reports."""

    def __init__(self):
        self.progress: list[tuple] = []
        self.meta: dict = {}

    def report_progress(self, tid, value, label):
        self.progress.append((value, label))

    def report_meta(self, tid, values):
        self.meta.update(values)

    def set_stage(self, tid, stage):
        pass

    def note_child(self, tid, pid):
        pass


def make_ctx(tmp_path, payload):
    payload = dl.DOWNLOAD.check_payload(payload)
    task = Task(id=1, kind="download", payload=payload, attempt=1, max_attempts=3)
    reporter = Reporter()
    return TaskContext(task, None, tmp_path / "logs" / "1.log", reporter), reporter


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(dl.PART_SUFFIX))


# ---------------------------------------------------------------- the handler, directly
def test_download_with_content_length(server, tmp_path):
    out = tmp_path / "out"
    ctx, rep = make_ctx(tmp_path, {"url": server.base + "/file.bin", "dest": str(out) + "/"})
    result = dl.DOWNLOAD.handler(ctx)
    path = out / "file.bin"
    assert result["path"] == str(path)
    assert path.read_bytes() == BODY
    assert result["bytes"] == len(BODY)
    assert result["sha256"] == hashlib.sha256(BODY).hexdigest()
    assert result["final_url"] == server.base + "/file.bin"
    assert leftovers(out) == []
    assert path.stat().st_mode & 0o777 == 0o666 & ~dl._umask()
    values = [v for v, _ in rep.progress if v is not None]
    assert values and values[-1] == 100.0
    assert all(0 <= v <= 100 for v in values)
    labels = [label for _, label in rep.progress if label and " of " in label]
    assert labels, rep.progress
    assert labels[-1] == "262.1 kB of 262.1 kB"
    assert rep.meta["total_bytes"] == len(BODY)
    assert rep.meta["path"] == str(path)


def test_a_temp_file_left_by_a_dead_worker_is_removed_on_the_next_run(server, tmp_path):
    ctx, _ = make_ctx(tmp_path, {"url": server.base + "/file.bin", "dest": str(tmp_path) + "/"})
    tag = dl._part_tag(ctx)
    stale = tmp_path / f".file.bin.{tag}.x1y2{dl.PART_SUFFIX}"
    stale.write_bytes(b"partial")
    other = tmp_path / f".file.bin.t99-abcdef.x1y2{dl.PART_SUFFIX}"  # another task's: left alone
    other.write_bytes(b"partial")
    dl.DOWNLOAD.handler(ctx)
    assert not stale.exists() and other.exists()
    assert (tmp_path / "file.bin").read_bytes() == BODY


def test_download_without_content_length_is_indeterminate(server, tmp_path):
    ctx, rep = make_ctx(tmp_path, {"url": server.base + "/nolength.bin", "dest": str(tmp_path / "x.bin")})
    result = dl.DOWNLOAD.handler(ctx)
    assert (tmp_path / "x.bin").read_bytes() == BODY
    assert result["bytes"] == len(BODY)
    during = rep.progress[:-1]
    assert during and all(v is None for v, _ in during)
    assert all(" of " not in (label or "") for _, label in during)
    assert rep.meta["total_bytes"] is None


def test_redirect_records_the_final_url(server, tmp_path):
    ctx, _ = make_ctx(tmp_path, {"url": server.base + "/redirect", "dest": str(tmp_path) + "/"})
    result = dl.DOWNLOAD.handler(ctx)
    assert result["url"] == server.base + "/redirect"
    assert result["final_url"] == server.base + "/file.bin"
    assert Path(result["path"]).name == "file.bin"


def test_a_redirect_to_ftp_is_refused_and_not_retried(server, tmp_path):
    ctx, _ = make_ctx(tmp_path, {"url": server.base + "/to-ftp", "dest": str(tmp_path) + "/"})
    with pytest.raises(FatalError, match=r"^127\.0\.0\.1 redirected to a ftp:// address; only http and https are followed$"):
        dl.DOWNLOAD.handler(ctx)
    assert leftovers(tmp_path) == [] and not (tmp_path / "secret.bin").exists()


def test_a_bidi_override_in_a_suggested_name_is_dropped(server, tmp_path):
    result = dl.DOWNLOAD.handler(make_ctx(tmp_path, {"url": server.base + "/rtl", "dest": str(tmp_path) + "/"})[0])
    assert Path(result["path"]).name == "report_fdp.exe"  # what it is, not what it pretended to read as
    assert dl.safe_name("a\u202ebc\u2066d\u200fe.txt") == "abcde.txt"


def test_an_over_long_suggested_name_is_cut_to_what_a_file_system_takes(server, tmp_path):
    result = dl.DOWNLOAD.handler(make_ctx(tmp_path, {"url": server.base + "/long", "dest": str(tmp_path) + "/"})[0])
    name = Path(result["path"]).name
    assert name.endswith(".gz") and name.startswith("éé") and len(name.encode()) <= dl.NAME_MAX_BYTES
    assert Path(result["path"]).read_bytes() == BODY
    again = dl.DOWNLOAD.handler(make_ctx(tmp_path, {"url": server.base + "/long", "dest": str(tmp_path) + "/"})[0])
    assert Path(again["path"]).name.endswith(" (1).gz")  # a second copy still fits


def test_a_missing_folder_named_like_downloads_is_created_and_saved_into(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    ctx, _ = make_ctx(tmp_path, {"url": server.base + "/file.bin", "dest": "~/Downloads"})
    assert ctx.payload["dest"] == str(tmp_path / "Downloads") + "/"  # ~ expanded, a folder
    result = dl.DOWNLOAD.handler(ctx)
    assert result["path"] == str(tmp_path / "Downloads" / "file.bin")
    assert (tmp_path / "Downloads" / "file.bin").read_bytes() == BODY


def test_content_disposition_names_the_file_and_names_never_clash(server, tmp_path):
    first = dl.DOWNLOAD.handler(make_ctx(tmp_path, {"url": server.base + "/named", "dest": str(tmp_path)})[0])
    second = dl.DOWNLOAD.handler(make_ctx(tmp_path, {"url": server.base + "/named", "dest": str(tmp_path)})[0])
    assert Path(first["path"]).name == "report 2026.csv"
    assert Path(second["path"]).name == "report 2026 (1).csv"


def test_explicit_file_path_is_replaced(server, tmp_path):
    target = tmp_path / "sub" / "data.bin"
    target.parent.mkdir()
    target.write_bytes(b"old")
    result = dl.DOWNLOAD.handler(make_ctx(tmp_path, {"url": server.base + "/file.bin", "dest": str(target)})[0])
    assert result["path"] == str(target)
    assert target.read_bytes() == BODY


def test_proxy_from_the_environment_is_used(server, tmp_path, monkeypatch):
    monkeypatch.setenv("http_proxy", server.base)
    monkeypatch.setenv("no_proxy", "")
    ctx, _ = make_ctx(tmp_path, {"url": "http://files.example.invalid/file.bin", "dest": str(tmp_path) + "/"})
    result = dl.DOWNLOAD.handler(ctx)
    assert server.proxied == ["http://files.example.invalid/file.bin"]
    assert Path(result["path"]).read_bytes() == BODY


def test_4xx_is_fatal_and_leaves_nothing(server, tmp_path):
    ctx, _ = make_ctx(tmp_path, {"url": server.base + "/missing.bin", "dest": str(tmp_path) + "/"})
    with pytest.raises(FatalError) as info:
        dl.DOWNLOAD.handler(ctx)
    assert str(info.value) == "HTTP 404 from 127.0.0.1 (Not Found)"
    assert list(tmp_path.glob("*.bin")) == [] and leftovers(tmp_path) == []


def test_body_cut_short_is_retryable_and_leaves_nothing(server, tmp_path):
    ctx, _ = make_ctx(tmp_path, {"url": server.base + "/short.bin", "dest": str(tmp_path) + "/"})
    with pytest.raises(RetryableError) as info:
        dl.DOWNLOAD.handler(ctx)
    assert "closed after" in str(info.value)
    assert not (tmp_path / "short.bin").exists() and leftovers(tmp_path) == []


def test_stalled_read_times_out_as_retryable(server, tmp_path):
    ctx, _ = make_ctx(tmp_path, {"url": server.base + "/stall.bin", "dest": str(tmp_path) + "/", "socket_timeout": "0.3"})
    with pytest.raises(RetryableError) as info:
        dl.DOWNLOAD.handler(ctx)
    assert str(info.value).startswith("timed out after 0.3 s")
    assert not (tmp_path / "stall.bin").exists() and leftovers(tmp_path) == []


def test_cancel_interrupts_a_blocked_read(server, tmp_path):
    ctx, _ = make_ctx(tmp_path, {"url": server.base + "/stall.bin", "dest": str(tmp_path) + "/"})
    outcome = {}

    def run():
        try:
            dl.DOWNLOAD.handler(ctx)
        except BaseException as exc:  # noqa: BLE001
            outcome["exc"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    assert server.stalled.wait(10)
    wait_until(lambda: leftovers(tmp_path), message="the temporary file")
    ctx.request_cancel("cancel")
    thread.join(10)
    assert not thread.is_alive()
    assert isinstance(outcome.get("exc"), Cancelled)
    assert leftovers(tmp_path) == [] and not (tmp_path / "stall.bin").exists()


def test_cancel_while_connecting_does_not_wait_for_the_timeout(server, tmp_path):
    out = tmp_path / "out"
    ctx, _ = make_ctx(tmp_path, {"url": server.base + "/hang", "dest": str(out) + "/"})
    outcome = {}

    def run():
        try:
            dl.DOWNLOAD.handler(ctx)
        except BaseException as exc:  # noqa: BLE001
            outcome["exc"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    assert server.stalled.wait(10)
    ctx.request_cancel("cancel")
    thread.join(10)  # the socket timeout is 30 s: finishing here means the cancel cut it short
    assert not thread.is_alive()
    assert isinstance(outcome.get("exc"), Cancelled)
    assert not out.exists() or list(out.iterdir()) == []


def test_rate_meter_over_a_window():
    now = [0.0]
    meter = dl.RateMeter(window=3.0, clock=lambda: now[0])
    assert meter.add(0) is None
    now[0] = 1.0
    assert meter.add(1_000_000) == 1_000_000
    for t in range(2, 10):
        now[0] = float(t)
        rate = meter.add(t * 2_000_000)
    assert rate == pytest.approx(2_000_000)


def test_classify_messages():
    err = urllib.error.HTTPError("http://h.example/x", 503, "Service Unavailable", {}, None)
    assert isinstance(dl.classify(err, "http://h.example/x", 30), RetryableError)
    assert str(dl.classify(err, "http://h.example/x", 30)) == "HTTP 503 from h.example (Service Unavailable)"
    for code in (400, 403, 404, 410):
        assert isinstance(dl.classify(urllib.error.HTTPError("u", code, "", {}, None), "http://h/x", 30), FatalError)
    for code in (408, 429, 500, 502):
        assert isinstance(dl.classify(urllib.error.HTTPError("u", code, "", {}, None), "http://h/x", 30), RetryableError)
    timeout = dl.classify(urllib.error.URLError(TimeoutError("timed out")), "http://h/x", 30)
    assert isinstance(timeout, RetryableError) and str(timeout) == "timed out after 30 s (h)"
    reset = dl.classify(ConnectionResetError(104, "reset"), "http://h/x", 30)
    assert isinstance(reset, RetryableError) and str(reset) == "connection reset by h"


def test_labels_and_names():
    assert dl.human_bytes(512) == "512 B"
    assert dl.human_bytes(12_300_000) == "12.3 MB"
    assert dl.progress_label(12_300_000, 40_000_000, 3_100_000) == "12.3 MB of 40.0 MB · 3.1 MB/s"
    assert dl.progress_label(12_300_000, None, 3_100_000) == "12.3 MB · 3.1 MB/s"
    assert dl.filename_from({}, "http://h/a/b/My%20File.iso?x=1") == "My File.iso"
    assert dl.filename_from({}, "http://h/") == "download"
    assert dl.filename_from({"Content-Disposition": "attachment; filename=\"../../etc/passwd\""}, "http://h/x") == "passwd"
    assert dl.filename_from({"Content-Disposition": "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"}, "http://h/x") == "résumé.pdf"


def test_payload_validation_and_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = dl.DOWNLOAD.check_payload({"url": "https://example.com/a.iso"})
    assert payload["dest"] == str(tmp_path) + "/"
    assert dl.DOWNLOAD.dedupe_key(payload) == "download:https://example.com/a.iso"
    rel = dl.DOWNLOAD.check_payload({"url": "https://example.com/a.iso", "dest": "sub/b.iso", "cwd": "/data"})
    assert rel["dest"] == "/data/sub/b.iso"
    with pytest.raises(UsageError, match="http"):
        dl.DOWNLOAD.check_payload({"url": "ftp://example.com/a"})
    with pytest.raises(UsageError, match="url"):
        dl.DOWNLOAD.check_payload({})
    with pytest.raises(UsageError, match="socket_timeout"):
        dl.DOWNLOAD.check_payload({"url": "https://example.com/a", "socket_timeout": "soon"})


# ---------------------------------------------------------------- through the real worker
@pytest.fixture
def queue(home):
    q = Queue(home)
    q.registry.override("download", backoff=Backoff(base=0.05, factor=1.0, max=0.05, jitter=0.0))
    yield q
    q.stop_worker(grace=1.0)
    q.close()


def finished(q, tid):
    task = q.get(tid)
    return task if task.finished else None


def test_worker_retries_503_then_completes(server, queue, tmp_path):
    server.flaky_failures = 1
    queue.start_worker()
    task, dup = queue.enqueue("download", {"url": server.base + "/flaky.bin", "dest": str(tmp_path) + "/"})
    assert not dup and task.dedupe_key == f"download:{server.base}/flaky.bin"
    done = wait_until(lambda: finished(queue, task.id), timeout=20, message="the download to finish")
    assert done.status == "completed", done.error
    assert done.attempt == 2
    assert done.meta.get("last_error") is None
    assert done.result["sha256"] == hashlib.sha256(BODY).hexdigest()
    assert Path(done.result["path"]).read_bytes() == BODY
    assert server.hits["/flaky.bin"] == 2
    assert leftovers(tmp_path) == []


def test_worker_gives_up_after_three_5xx(server, queue, tmp_path):
    server.flaky_failures = 10
    queue.start_worker()
    task, _ = queue.enqueue("download", {"url": server.base + "/flaky.bin", "dest": str(tmp_path) + "/"})
    done = wait_until(lambda: finished(queue, task.id), timeout=20, message="the download to fail")
    assert done.status == "failed"
    assert done.attempt == 3 and done.error_kind == "retryable"
    assert done.error == "HTTP 503 from 127.0.0.1 (Service Unavailable)"
    assert server.hits["/flaky.bin"] == 3
    assert not (tmp_path / "flaky.bin").exists() and leftovers(tmp_path) == []


def test_worker_404_is_fatal_not_retried(server, queue, tmp_path):
    queue.start_worker()
    task, _ = queue.enqueue("download", {"url": server.base + "/missing.bin", "dest": str(tmp_path) + "/"})
    done = wait_until(lambda: finished(queue, task.id), timeout=20, message="the download to fail")
    assert done.status == "failed" and done.error_kind == "fatal"
    assert done.attempt == 1
    assert "HTTP 404" in done.error
    assert server.hits["/missing.bin"] == 1


def test_worker_cancel_mid_download_leaves_no_partial_file(server, queue, tmp_path):
    queue.start_worker()
    task, _ = queue.enqueue("download", {"url": server.base + "/stall.bin", "dest": str(tmp_path) + "/"})
    assert server.stalled.wait(10)
    wait_until(lambda: leftovers(tmp_path), message="the temporary file")
    queue.cancel(task.id)
    done = wait_until(lambda: finished(queue, task.id), timeout=10, message="the cancel")
    assert done.status == "cancelled"
    assert leftovers(tmp_path) == [] and not (tmp_path / "stall.bin").exists()


def test_same_url_is_deduplicated_while_active(server, queue, tmp_path):
    first, dup1 = queue.enqueue("download", {"url": server.base + "/file.bin", "dest": str(tmp_path) + "/"})
    second, dup2 = queue.enqueue("download", {"url": server.base + "/file.bin", "dest": str(tmp_path / "other") + "/"})
    assert (dup1, dup2) == (False, True) and second.id == first.id


# ---------------------------------------------------------------- from the command line
def test_cli_download_lands_in_the_directory_it_was_added_from(server, cli_env, tmp_path):
    import json
    import subprocess
    import sys

    where = tmp_path / "here"
    where.mkdir()

    def lq(*args):
        return subprocess.run([sys.executable, "-m", "lazyqueue", *args], env=cli_env, cwd=where,
                              capture_output=True, text=True, timeout=60)

    added = lq("add", "download", f"url={server.base}/file.bin", "--json")
    assert added.returncode == 0, added.stderr
    record = json.loads(added.stdout)
    assert record["payload"]["dest"] == str(where) + "/" and record["dedupe_key"] == f"download:{server.base}/file.bin"
    again = lq("add", "download", f"url={server.base}/file.bin")
    assert again.returncode == 0 and "already queued" in again.stdout
    bad = lq("add", "download", "url=ftp://example.com/x")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "http" in bad.stderr
    worker = lq("worker", "--exit-when-idle")
    assert worker.returncode == 0, worker.stderr
    assert (where / "file.bin").read_bytes() == BODY
    shown = json.loads(lq("show", str(record["id"]), "--json").stdout)
    assert shown["status"] == "completed" and shown["result"]["path"] == str(where / "file.bin")
