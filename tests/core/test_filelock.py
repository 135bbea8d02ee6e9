"""The cross-process lock holds the file `tasks.lock` names now, even after it was replaced."""

from __future__ import annotations

import fcntl
import os

import pytest

from lazyqueue.core.filelock_posix import ProcessLock


def _locked_by_someone(path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_replaced_lock_file_is_locked_again_not_the_old_inode(tmp_path, how):
    path = tmp_path / "tasks.lock"
    lock = ProcessLock(path)
    with lock:  # opens the file once and keeps the descriptor
        pass
    path.unlink()
    if how == "replaced":  # a backup restore puts another file there
        path.write_bytes(b"")
    with lock:
        assert path.exists()
        assert _locked_by_someone(path)  # another process taking the lock now has to wait
    assert not _locked_by_someone(path)
    lock.close()


def test_a_symlinked_lock_file_is_refused(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    (tmp_path / "tasks.lock").symlink_to(target)
    lock = ProcessLock(tmp_path / "tasks.lock")
    with pytest.raises(OSError):
        lock.acquire()
