"""`lazyqueue demo`: its own folder (gone afterwards) or --home (kept), --config, stages, a trickle of work."""

from __future__ import annotations

from pathlib import Path

from lazyqueue import demo
from lazyqueue.tui import app as tui_app

from ..conftest import wait_until


def run_demo_with(monkeypatch, **options) -> dict:
    seen = {}

    def fake_run(queue):
        seen["home"] = Path(queue.home)
        seen["concurrency"] = queue.config.concurrency
        seen["tasks"] = len(queue.tasks())
        return 0

    monkeypatch.setattr(tui_app, "run", fake_run)
    assert tui_app.run_demo(**options) == 0
    return seen


def test_the_demo_folder_is_removed_on_exit(monkeypatch):
    seen = run_demo_with(monkeypatch)
    assert seen["tasks"] >= 8 and seen["home"].name.startswith("lazyqueue-demo-")
    assert not seen["home"].exists()


def test_demo_home_and_config_are_honoured(monkeypatch, tmp_path):
    config = tmp_path / "demo.toml"
    config.write_text("[worker]\nconcurrency = 1\n")
    seen = run_demo_with(monkeypatch, home=str(tmp_path / "mine"), config=str(config))
    assert seen["home"] == tmp_path / "mine" and seen["concurrency"] == 1
    assert (tmp_path / "mine").is_dir()  # a home the user named is kept


def test_demo_handlers_set_real_stages_and_work_keeps_coming(tmp_path):
    q = demo.open_demo_queue(speed=0.02, home=tmp_path / "stages")
    trickle = demo.Trickle(q, every=0.5, lasting=30).start()  # every 0.01 s at this speed
    try:
        q.start_worker()
        wait_until(lambda: {"CV ready", "Synced", "Delivered", "Crunched"} & {j.stage for j in q.jobs()},
                   timeout=20, message="a demo job reaching a real stage")
        wait_until(lambda: sum(t.kind == "render" for t in q.tasks()) >= 2, timeout=10, message="renders trickling in")
        assert "Pending" not in {j.stage for j in q.jobs() if any(t.status == "completed" for t in q.tasks(job=j.id))}
    finally:
        trickle.stop()
        q.stop_worker(grace=0)
        q.close()
