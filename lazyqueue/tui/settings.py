"""What the TUI remembers between runs (the theme), in `tui.json` beside the config file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..core.paths import config_path

NAME = "tui.json"


def settings_path() -> Path:
    """`tui.json` in the folder of the config file ($LAZYQUEUE_CONFIG or the user config dir)."""
    return config_path(None)[0].parent / NAME


def load() -> dict:
    try:
        data = json.loads(settings_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def saved_theme() -> str | None:
    theme = load().get("theme")
    return theme if isinstance(theme, str) else None


def save_theme(theme: str) -> None:
    """Keep the theme for the next run; a folder that cannot be written is left alone."""
    data = load()
    if data.get("theme") == theme:
        return
    data["theme"] = theme
    path = settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass
