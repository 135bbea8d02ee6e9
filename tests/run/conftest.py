"""`lazyqueue run` hands its command to the background worker: these tests turn autostart on, and stop it after."""

from __future__ import annotations

import json
import os
import signal

import pytest


@pytest.fixture(autouse=True)
def autostart_on(isolated_home, monkeypatch):
    monkeypatch.setenv("LAZYQUEUE_AUTOSTART", "1")
    yield
    for path in (isolated_home / "workers").glob("*.json") if (isolated_home / "workers").is_dir() else []:
        try:
            os.kill(json.loads(path.read_text())["pid"], signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass
