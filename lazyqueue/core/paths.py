"""Where lazyqueue keeps its state and finds its config."""

from __future__ import annotations

import os
from pathlib import Path

APP = "lazyqueue"


def state_dir(explicit: str | os.PathLike | None = None) -> Path:
    """--home, else LAZYQUEUE_HOME, else the platform's user data dir."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("LAZYQUEUE_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def config_path(explicit: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """The config file and whether the user named it (a named file must exist)."""
    if explicit:
        return Path(explicit).expanduser(), True
    env = os.environ.get("LAZYQUEUE_CONFIG")
    if env:
        return Path(env).expanduser(), True
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False)) / "config.toml", False


def ensure_private_dir(path: Path) -> Path:
    """Create a 0700 directory (and parents) if missing."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
    return path
