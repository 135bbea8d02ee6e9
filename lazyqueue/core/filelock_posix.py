"""The cross-process lock on the task file.

On POSIX this is a plain fcntl.flock on `tasks.lock` — the same lock
filelock's UnixFileLock takes, without its ~60 ms import, which would eat
most of `lazyqueue add`'s 100 ms budget. Elsewhere filelock is used.
A threading.RLock makes it re-entrant and safe between threads.

The lock is judged by the file's inode: after flock, the descriptor must
still name what `tasks.lock` names. If the file was deleted or replaced
(a /tmp cleaner, a backup restore), the lock is taken again on the new
file, so every process always locks the same inode. A process that took
the lock just before the file was replaced still holds the old inode, so
the directory is locked too (after the file, always in that order): a
directory cannot be swapped under a process the way a file can.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None


class ProcessLock:
    def __init__(self, path: Path):
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._dir_fd: int | None = None
        self._fallback = None
        self._fd_id: tuple | None = None  # (st_dev, st_ino) of _fd: an open descriptor's file never changes
        self.on_release = None
        self.generation = 0  # counts the times this process took the lock: what was seen under one hold holds in it

    def acquire(self) -> None:
        self._thread_lock.acquire()
        if self._depth == 0:
            try:
                self._acquire_os()
            except BaseException:
                self._thread_lock.release()
                raise
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        outermost = self._depth == 0
        if outermost:
            self._release_os()
        self._thread_lock.release()
        if outermost and self.on_release is not None:
            self.on_release()  # in this thread, with no lock held (the store's fsync)

    def held_by_me(self) -> bool:
        """True in the thread that holds the lock."""
        return self._depth > 0 and self._thread_lock._is_owned()

    def _acquire_os(self) -> None:
        if fcntl is None:  # pragma: no cover
            if self._fallback is None:
                import filelock

                self._fallback = filelock.FileLock(str(self.path))
            self._fallback.acquire()
            return
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        while True:
            if self._fd is None:
                self._fd = os.open(self.path, flags, 0o600)
                held = os.fstat(self._fd)
                self._fd_id = (held.st_ino, held.st_dev)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                on_disk = os.stat(self.path, follow_symlinks=False)
            except FileNotFoundError:
                on_disk = None
            if on_disk is not None and (on_disk.st_ino, on_disk.st_dev) == self._fd_id:
                break
            # the file was deleted or replaced while we waited: lock what the path names now
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._dir_fd is None:
            self._dir_fd = os.open(self.path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            fcntl.flock(self._dir_fd, fcntl.LOCK_EX)
        except BaseException:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            raise
        self.generation += 1

    def _release_os(self) -> None:
        if fcntl is None:  # pragma: no cover
            self._fallback.release()
            return
        fcntl.flock(self._dir_fd, fcntl.LOCK_UN)
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        for name in ("_fd", "_dir_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        self._fd_id = None

    def __enter__(self) -> "ProcessLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
