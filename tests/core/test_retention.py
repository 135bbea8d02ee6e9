"""Retention bounds the state directory: logs go with their archived tasks, the archive has a size,
and an archived id is found through the index without reading the whole archive."""

from __future__ import annotations

import json
import subprocess
import sys

from lazyqueue import Queue
from lazyqueue.core import archive as archive_mod
from lazyqueue.core.config import Config
from lazyqueue.core.models import RetentionPolicy


def finished_queue(home, n: int, **policy) -> Queue:
    """A queue holding `n` cancelled tasks, each with a log of 1,000 bytes."""
    q = Queue(home, config=Config(retention=RetentionPolicy(**policy)), plugins=False)
    q.taskfile.retention = q.config.retention
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    for _ in range(n):
        task, _ = q.enqueue("shell", {"command": "true"})
        q.cancel(task.id)
        (logs / f"{task.id}.log").write_bytes(b"x" * 999 + b"\n")
    return q


def test_prune_removes_the_logs_of_the_tasks_it_archives_and_says_so(home):
    q = finished_queue(home, 5, keep=2)
    (home / "logs" / "1.exit").write_text("1 0\n")
    report = q.prune()
    assert (report.tasks, report.logs, report.log_bytes) == (3, 3, 3 * 1000 + 4)
    assert sorted(p.name for p in (home / "logs").iterdir()) == ["4.log", "5.log"]
    assert q.get(1).status == "cancelled"  # the task itself is in the archive
    q.close()


def test_a_fold_of_many_tasks_removes_exactly_the_logs_they_left(home):
    # past a few dozen tasks the logs are found by one listing, not a stat per file
    q = finished_queue(home, 60, keep=10)
    logs = home / "logs"
    for tid in range(1, 61, 3):
        (logs / f"{tid}.log").unlink()  # tasks that never wrote a log
    (logs / "7.exit").write_text("7 1 0\n")
    (logs / "55.exit").write_text("55 1 0\n")
    report = q.prune()
    gone = [t for t in range(1, 51) if t % 3 != 1]
    assert (report.tasks, report.logs, report.log_bytes) == (50, len(gone), len(gone) * 1000 + 6)
    assert sorted(p.name for p in logs.iterdir()) == sorted(
        [f"{t}.log" for t in range(51, 61) if t % 3 != 1] + ["55.exit"])
    q.close()


def test_logs_left_by_tasks_archived_earlier_are_removed_and_keep_logs_keeps_them(home):
    q = finished_queue(home, 3, keep=0, keep_logs=True)
    assert q.prune().logs == 0
    assert len(list((home / "logs").iterdir())) == 3  # kept, as asked
    q.taskfile.retention = RetentionPolicy(keep=0)
    report = q.prune()  # nothing more to archive, but their logs no longer belong to a live task
    assert (report.tasks, report.logs) == (0, 3)
    assert list((home / "logs").iterdir()) == []
    q.close()


def test_a_running_tasks_log_is_never_pruned(home):
    q = Queue(home, config=Config(retention=RetentionPolicy(keep=0)), plugins=False)
    q.taskfile.retention = q.config.retention
    task, _ = q.enqueue("shell", {"command": "true"})
    (home / "logs").mkdir(exist_ok=True)
    (home / "logs" / f"{task.id}.log").write_text("still going\n")
    q.prune()
    assert (home / "logs" / f"{task.id}.log").read_text() == "still going\n"
    q.close()


def test_an_archived_task_is_read_from_one_line_of_the_archive(home, monkeypatch):
    q = finished_queue(home, 50, keep=0)
    q.prune()
    q.close()
    parsed = []
    real = archive_mod._task_record
    monkeypatch.setattr(archive_mod, "_task_record", lambda line: parsed.append(line) or real(line))
    again = Queue(home, plugins=False)
    assert again.get(7).status == "cancelled"
    assert len(parsed) == 1, f"{len(parsed)} archive lines parsed to find one task"
    parsed.clear()
    assert again.taskfile.archived_task(999) is None  # never archived: answered from the index alone
    assert parsed == []
    again.close()


def test_the_index_catches_up_with_lines_it_does_not_cover_and_is_rebuilt_when_wrong(home):
    q = finished_queue(home, 4, keep=0)
    q.prune()
    archive = home / "archive.jsonl"
    # a line written by a writer that died before indexing it
    record = dict(q.taskfile.archived_task(2), id=40, label="late")
    with open(archive, "ab") as fh:
        fh.write(json.dumps({"type": "task", "record": record}).encode() + b"\n")
    assert q.taskfile.archived_task(40)["label"] == "late"
    # an index that names the wrong lines (copied from elsewhere, damaged)
    (home / "archive.idx").write_bytes(b"\x07" * 32)
    assert q.taskfile.archived_task(3)["id"] == 3
    (home / "archive.idx").unlink()
    assert q.taskfile.archived_task(1)["id"] == 1
    q.close()


def test_the_archive_is_kept_under_its_size_and_dropped_ids_are_never_handed_out_again(home):
    q = finished_queue(home, 60, keep=0, archive_max_mb=0.01)  # 10 KiB
    report = q.prune()
    size = (home / "archive.jsonl").stat().st_size
    assert report.archive_dropped > 0 and report.archive_bytes > 0
    assert size <= 10 * 1024
    assert q.get(60).status == "cancelled"  # the newest are kept
    first = json.loads((home / "archive.jsonl").read_text().splitlines()[0])
    assert first["type"] == "trimmed" and first["next_task_id"] == 61
    q.close()
    # even with the live file damaged, an id is never handed out twice
    (home / "tasks.json").write_bytes(b"\x00garbage")
    (home / "tasks.journal").unlink(missing_ok=True)
    again = Queue(home, plugins=False)
    task, _ = again.enqueue("shell", {"command": "true"})
    assert task.id > 60
    again.close()


def test_prune_prints_one_line_with_tasks_logs_and_bytes(home, tmp_path):
    q = finished_queue(home, 4, keep=1)
    q.close()
    config = tmp_path / "config.toml"
    config.write_text("[retention]\nkeep = 1\n")
    env = {"LAZYQUEUE_HOME": str(home), "LAZYQUEUE_CONFIG": str(config), "LAZYQUEUE_AUTOSTART": "0",
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "lazyqueue", "prune"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0] == f"moved 3 finished task(s) to {home / 'archive.jsonl'}; removed 3 log(s) (3.0 kB)"
