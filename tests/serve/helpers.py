"""A real `lazyqueue serve` on 127.0.0.1 (a free port each), and a small SSE reader."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass

import httpx

from lazyqueue import Queue
from lazyqueue.serve import Server

from ..conftest import wait_until


@dataclass
class Served:
    queue: Queue
    server: Server
    client: httpx.Client
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.client.close()
        self.server.stop()
        self.thread.join(15)
        self.queue.close()


def start_serving(home, run_worker: bool = True, config=None) -> Served:
    queue = Queue(home, config)
    server = Server(queue, "127.0.0.1", 0, run_worker=run_worker)
    thread = threading.Thread(target=server.run, name="serve", daemon=True)
    thread.start()
    wait_until(lambda: server.started, message="the server to listen")
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=15)
    return Served(queue, server, client, thread)


def shell(argv: list[str], **fields) -> dict:
    return dict(kind="shell", payload={"argv": argv}, **fields)


def wait_status(served: Served, tid: int, status: str, timeout: float = 20) -> dict:
    def look():
        record = served.client.get(f"/tasks/{tid}").json()
        return record if record["status"] == status else None

    return wait_until(look, timeout=timeout, interval=0.05, message=f"t{tid} {status}")


class EventReader:
    """Reads Server-Sent Events from `GET /events` on its own thread."""

    def __init__(self, served: Served, last_event_id: str | None = None):
        headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
        self.client = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {served.server.token}"},
                                   timeout=httpx.Timeout(15, read=60))
        self._cm = self.client.stream("GET", "/events", headers=headers)
        self.response = self._cm.__enter__()
        self.events: list[dict] = []  # {"event", "id", "data"}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        current: dict = {}
        try:
            for line in self.response.iter_lines():
                if line == "":
                    if "data" in current:
                        with self._lock:
                            self.events.append(current)
                    current = {}
                elif line.startswith(":"):
                    continue
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    current[name] = json.loads(value) if name == "data" else value
        except (httpx.HTTPError, RuntimeError):  # closed by close()
            pass

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.events)

    def close(self) -> None:
        """Drop the connection (the reading thread sees it end)."""
        stream = self.response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        try:
            self._cm.__exit__(None, None, None)
        except httpx.HTTPError:
            pass
        finally:
            self.client.close()


def stop_background_workers(home) -> None:
    """Kill the background workers a test's enqueues started (by the pids they recorded)."""
    import os
    import signal

    folder = home / "workers"
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            os.kill(json.loads(path.read_text())["pid"], signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass
