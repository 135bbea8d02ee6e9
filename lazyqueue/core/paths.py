"""Where lazyqueue keeps its state and finds its config."""

from __future__ import annotations

import os
import stat
from pathlib import Path

APP = "lazyqueue"


def state_dir(explicit: str | os.PathLike | None = None) -> Path:
    """--home, else LAZYQUEUE_HOME, else the platform's user data dir."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("LAZYQUEUE_HOME")
    if env:
        return Path(env).expanduser()
    xdg = _xdg_dir("XDG_DATA_HOME", ".local/share")
    if xdg is not None:
        return xdg
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def _xdg_dir(variable: str, default: str) -> Path | None:
    """On Linux, platformdirs' answer without importing it (~8 ms of every `lazyqueue add`); else None."""
    import sys

    if sys.platform != "linux" or "ANDROID_DATA" in os.environ:
        return None
    base = os.environ.get(variable, "").strip() or os.path.expanduser(f"~/{default}")
    return Path(base) / APP


def config_path(explicit: str | os.PathLike | None = None) -> tuple[Path, bool | str]:
    """The config file and whether the user named it: True (--config: must exist), "env"
    ($LAZYQUEUE_CONFIG: a missing file is a warning) or False (the default place)."""
    if explicit:
        return Path(explicit).expanduser(), True
    env = os.environ.get("LAZYQUEUE_CONFIG")
    if env:
        return Path(env).expanduser(), "env"
    xdg = _xdg_dir("XDG_CONFIG_HOME", ".config")
    if xdg is not None:
        return xdg / "config.toml", False
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False)) / "config.toml", False


NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # open flags: never follow a planted symlink


def ensure_private_dir(path: Path, warnings: list | None = None) -> Path:
    """Create a 0700 directory (and parents) if missing; refuse or repair an unsafe one.

    A symbolic link, or a directory owned by another user, is refused
    (StoreError): another local user could plant tasks or links in it. A
    directory of ours that group or others may write is made 0700,
    and a line saying so is added to `warnings`.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
        st = os.lstat(path)
    from .errors import StoreError

    if stat.S_ISLNK(st.st_mode):
        raise StoreError(f"{path} is a symbolic link; lazyqueue keeps its state only in a real directory (give its target with --home)")
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{path} is not a directory")
    getuid = getattr(os, "getuid", None)
    if getuid is not None and st.st_uid != getuid():
        raise StoreError(f"{path} belongs to another user (uid {st.st_uid}); lazyqueue will not use a state directory it does not own")
    mode = stat.S_IMODE(st.st_mode)
    if getuid is not None and mode & 0o022:
        # others could write here: anything they left is not ours to trust
        for entry in os.scandir(path):
            if entry.stat(follow_symlinks=False).st_uid != getuid():
                raise StoreError(
                    f"{path} is writable by other users (mode {mode:o}) and holds {entry.name}, "
                    "owned by another user; check and remove it, then chmod 700 the directory"
                )
        os.chmod(path, 0o700)
        if warnings is not None:
            warnings.append(f"{path} was writable by other users (mode {mode:o}); made it private (700)")
    return path
