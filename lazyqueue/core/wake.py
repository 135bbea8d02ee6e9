"""Waking idle workers when a task is queued, through a socket in the state directory.

A worker process listens on its own Unix datagram socket, `wake-PID.sock` in the
(private) state directory; a process that has just made an enqueue durable
sends one byte to each such socket. The byte carries nothing: the worker
only stops waiting and reads the task file as it would after its poll, so a
lost or stray datagram costs at most the poll interval or one extra pass.
A socket nobody listens on any more (a worker killed with -9) is removed by
the next sender that finds it refused.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

PREFIX = "wake-"
SUFFIX = ".sock"


def notify(home: Path) -> int:
    """Wake every worker listening in `home`; how many were told. Never raises."""
    try:
        names = [n for n in os.listdir(home) if n.startswith(PREFIX) and n.endswith(SUFFIX)]
    except OSError:
        return 0
    if not names:
        return 0
    import _socket  # the C module: `socket` would import enum and more on every `lazyqueue add`

    told = 0
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
    except OSError:
        return 0
    try:
        sock.setblocking(False)
        for name in names:
            path = os.path.join(home, name)
            try:
                sock.sendto(b"!", path)
                told += 1
            except (ConnectionRefusedError, FileNotFoundError):
                try:
                    os.unlink(path)  # its worker is gone
                except OSError:
                    pass
            except OSError:
                pass  # a full queue of datagrams: that worker is waking anyway
    finally:
        sock.close()
    return told


class Listener:
    """A worker's wake socket: `on_wake()` runs (in a daemon thread) for every datagram."""

    def __init__(self, home: Path, on_wake):
        import socket

        self.path = os.path.join(home, f"{PREFIX}{os.getpid()}{SUFFIX}")  # short: 108 bytes at most
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        old = os.umask(0o177)  # the socket file: 0600
        try:
            self.sock.bind(self.path)
        finally:
            os.umask(old)
        self._closed = False
        self._thread = threading.Thread(target=self._run, args=(on_wake,), name="lazyqueue-wake", daemon=True)
        self._thread.start()

    def _run(self, on_wake) -> None:
        while not self._closed:
            try:
                self.sock.recv(64)
            except OSError:
                return
            if not self._closed:
                on_wake()

    def close(self) -> None:
        self._closed = True
        try:
            os.unlink(self.path)
        except OSError:
            pass
        try:
            import socket

            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def listen(home: Path, on_wake) -> Listener | None:
    """Start listening, or None where Unix sockets are not available (the worker polls then)."""
    try:
        return Listener(home, on_wake)
    except (OSError, AttributeError):
        return None
