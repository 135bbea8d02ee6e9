"""Regenerate the README screenshots from the real app (fixed clock, fixed data).

    python screenshots/make_screenshots.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.pop("NO_COLOR", None)
os.environ["TZ"] = "UTC"
time.tzset()
SCRATCH = Path(tempfile.mkdtemp(prefix="lazyqueue-shot-"))
os.environ["LAZYQUEUE_CONFIG"] = str(SCRATCH / "config.toml")  # the default theme, not the user's

from lazyqueue.tui.app import LazyQueueApp  # noqa: E402
from lazyqueue.tui.screens.quit import QuitScreen  # noqa: E402
from tests.tui.fixed import busy_queue, clock  # noqa: E402


async def shot(name: str, size: tuple[int, int], action=None) -> None:
    q = busy_queue(tempfile.mkdtemp(prefix=f"{name}-", dir=SCRATCH))
    app = LazyQueueApp(q, clock=clock, start_worker=False, tick_s=3600)
    app.animation_level = "none"
    try:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            if action is not None:
                await action(app, pilot)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the log tail and who runs the work are read off the UI thread
                await pilot.pause(0.02)
                if not any(w.group in ("load", "detail-tail", "workers") and not w.is_finished for w in app.workers):
                    break
            for _ in range(3):
                await pilot.pause(0.02)
            app.save_screenshot(str(HERE / f"{name}.svg"))
    finally:
        q.close()


async def select_failed(app, pilot):
    app.select_task(8)


async def press(*keys):
    async def run(app, pilot):
        await pilot.press(*keys)
        from textual.widgets import Input

        for widget in app.screen.query(Input):
            widget.cursor_blink = False
    return run


async def ask_quit(app, pilot):
    app.push_screen(QuitScreen(3))


async def main() -> None:
    await shot("busy", (120, 36))
    await shot("failed-detail", (120, 36), select_failed)
    await shot("add", (120, 36), await press("a"))
    await shot("help", (120, 36), await press("question_mark"))
    await shot("quit", (120, 36), ask_quit)
    await shot("narrow-80x24", (80, 24))
    await shot("add-80x24", (80, 24), await press("a", *"make backup"))
    await shot("large-200x50", (200, 50))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)
