"""Where the last head-only writer left off in the journal, so the next one reads only what came after.

`lazyqueue add` needs the next ids and the active dedupe keys: the
snapshot's first line plus every journal line past it. With a long journal
(thousands of single adds since the last fold, up to 8 MB) reading it all is
most of an add. After its commit, a head-only writer keeps what it worked out
in `head-cache.json` (private; never read through a symlink or when others
could have written it): the snapshot it stands on, the journal's inode,
the offset and a CRC-32 of the journal up to it, the seq, the next ids and
the active keys. The next writer uses it only if all of those still match the
files (so any fold, truncation or rewrite means a full read of the journal),
then reads the journal from that offset. It is a hint, not a record: losing
it or finding it stale costs one full read, never a change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .encoded import json_bytes
from .paths import NOFOLLOW

NAME = "head-cache.json"
_LAST: dict = {}  # (device, inode) -> (offset, CRC) last summed in this process


def _journal_mark(journal: Path, offset: int) -> list | None:
    """[device, inode, offset, CRC-32 of the journal's first `offset` bytes] (None: shorter than that)."""
    import zlib

    try:
        fd = os.open(journal, os.O_RDONLY | NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_size < offset:
            return None
        crc, done = 0, 0
        known = _LAST.get((st.st_dev, st.st_ino))
        if known is not None and known[0] <= offset:
            done, crc = known  # this process already summed the journal up to there
        while done < offset:  # a few ms for 8 MB: far less than parsing it
            chunk = os.pread(fd, min(1 << 20, offset - done), done)
            if not chunk:
                return None
            crc = zlib.crc32(chunk, crc)
            done += len(chunk)
    finally:
        os.close(fd)
    _LAST.clear()
    _LAST[(st.st_dev, st.st_ino)] = (offset, crc)
    return [st.st_dev, st.st_ino, offset, crc]


def load(home: Path, snap_sig, journal: Path) -> dict | None:
    """The saved head if it still describes these files, else None."""
    _LAST.clear()  # the journal is summed afresh here; save() then adds only what was appended
    try:
        fd = os.open(home / NAME, os.O_RDONLY | NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o077:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            saved = json.loads(fh.read())
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    try:
        if saved["snap"] != (list(snap_sig) if snap_sig else None):
            return None
        mark = saved["journal"]
        if _journal_mark(journal, int(mark[2])) != mark:
            return None
        int(saved["seq"]), int(saved["next_task_id"]), int(saved["next_job_id"]), int(saved["lines"])
        if not isinstance(saved["active_keys"], dict):
            return None
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return saved


def save(home: Path, snap_sig, journal: Path, offset: int, seq: int, lines: int, head) -> None:
    """Keep where this writer left off; best effort (a failure only costs the next one a full read)."""
    mark = _journal_mark(journal, offset)
    if mark is None:
        return
    data = {"snap": list(snap_sig) if snap_sig else None, "journal": mark, "seq": seq, "lines": lines,
            "next_task_id": head.next_task_id, "next_job_id": head.next_job_id, "active_keys": head.active_keys}
    # written in place: every reader and writer of the note holds the task-file lock, and a note
    # torn by a crash does not parse (then it is not used)
    try:
        fd = os.open(home / NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NOFOLLOW, 0o600)
    except OSError:
        return
    try:
        if os.fstat(fd).st_uid == os.getuid():
            os.write(fd, json_bytes(data))
    except OSError:
        pass
    finally:
        os.close(fd)
