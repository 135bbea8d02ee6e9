"""A parsed copy of the config file kept in the state directory.

`lazyqueue add` would otherwise import and run the TOML parser on every call
(~7 ms of its start-up). The copy is JSON, private to the user (0600, never
read through a symlink or when others could have written it), and keyed by
the config file's path, device, inode, size, mtime and ctime: any change to
the file, even one that keeps its size and mtime (ctime moves with it), means
the TOML is parsed again. A file changed less than two seconds ago is not
copied (its timestamps may not yet tell two quick edits apart).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .paths import NOFOLLOW

NAME = "config-cache.json"
RACY_S = 2.0


def _key(path: Path, st: os.stat_result) -> list:
    return [os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def cached(path: Path, cache_dir: Path | None) -> tuple[dict | None, list | None]:
    """(the parsed config if the copy matches the file, else None; the key to store a fresh parse under)."""
    if cache_dir is None:
        return None, None
    try:
        key = _key(path, os.stat(path))
    except OSError:
        return None, None
    try:
        fd = os.open(cache_dir / NAME, os.O_RDONLY | NOFOLLOW)
    except OSError:
        return None, key
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o077:
            return None, key  # not ours alone: parse the TOML instead
        with os.fdopen(fd, "rb", closefd=False) as fh:
            saved = json.loads(fh.read())
        if isinstance(saved, dict) and saved.get("key") == key and isinstance(saved.get("data"), dict):
            return saved["data"], key
    except (OSError, ValueError):
        pass
    finally:
        os.close(fd)
    return None, key


def store(cache_dir: Path, key: list | None, data: dict) -> None:
    """Keep `data` (the parsed config) for the next start; best effort, never an error."""
    if key is None or time.time() - max(key[4], key[5]) / 1e9 < RACY_S or not cache_dir.is_dir():
        return
    try:
        text = json.dumps({"key": key, "data": data}, ensure_ascii=False)
    except (TypeError, ValueError):
        return  # TOML dates and times have no JSON form: no copy, the file is parsed each time
    tmp = cache_dir / f".{NAME}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, cache_dir / NAME)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
