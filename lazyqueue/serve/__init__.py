"""`lazyqueue serve`: an HTTP API over a queue, for programs on this machine (extra `lazyqueue[serve]`).

    lazyqueue serve [--port 8765]
    curl -H "Authorization: Bearer $(lazyqueue serve --show-token)" http://127.0.0.1:8765/tasks

Binds 127.0.0.1 unless `[serve] allow_remote = true`; every request carries the token kept
0600 in the state dir as `serve.token`.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

from ..core.errors import LazyQueueError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> str | None:
    """Refuse a non-loopback address unless allowed; answers the warning to print, if any."""
    if is_loopback(host):
        return None
    if not allow_remote:
        raise LazyQueueError(
            f"refusing to listen on {host}: other machines could reach the queue; "
            "use 127.0.0.1, or set [serve] allow_remote = true in the config")
    return f"listening on {host}: any machine that can reach it and has the token can run commands here"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 = any free port), or a one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio turns Nagle off only on sockets that say they are TCP (else +40 ms a request)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise LazyQueueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Server:
    """A bound, ready-to-run server over one queue: `url`, `run()` (blocks), `stop()` (any thread)."""

    def __init__(self, queue, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, run_worker: bool = False,
                 on_ready=None, log_level: str = "warning"):
        try:
            import uvicorn
        except ImportError:
            raise LazyQueueError("serve needs its extra: pip install 'lazyqueue[serve]'") from None
        from ..run import ensure_worker
        from .app import build_app
        from .token import load_or_create

        settings = getattr(queue.config, "serve", None) or {}
        self.warning = check_host(host, bool(settings.get("allow_remote")))
        self.token = load_or_create(queue.home)
        self.queue = queue
        self.run_worker = run_worker
        after_enqueue = None if run_worker else (lambda: ensure_worker(queue))
        self.app = build_app(queue, self.token, cors_origins=settings.get("cors_origins") or (),
                             after_enqueue=after_enqueue)
        self.sock = bind(host, port)
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level=log_level, access_log=False, lifespan="on",
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        if on_ready is not None:
            started = self._server.startup

            async def startup(sockets=None):
                await started(sockets=sockets)
                on_ready(self.url)

            self._server.startup = startup

    def run(self) -> None:
        """Serve until stopped or interrupted."""
        if self.run_worker:
            self.queue.start_worker()
        try:
            self._server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    @property
    def started(self) -> bool:
        return self._server.started

    def stop(self) -> None:
        """Ask the server to finish (open streams are closed)."""
        self._server.should_exit = True


def serve(queue, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, run_worker: bool = False,
          on_ready=None) -> None:
    """Serve `queue` over HTTP until interrupted. `on_ready(url)` is called once it listens.

    With `run_worker`, a worker runs in this process; else each enqueue makes sure the
    state dir's background worker is running.
    """
    server = Server(queue, host, port, run_worker=run_worker, on_ready=on_ready)
    if server.warning:
        sys.stderr.write(f"lazyqueue: warning: {server.warning}\n")
    server.run()


__all__ = ["Server", "serve", "check_host", "is_loopback", "DEFAULT_HOST", "DEFAULT_PORT"]
