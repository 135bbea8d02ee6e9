"""The seam: what the CLI, the TUI and `serve` may use of a queue.

Two engines implement it: the local one (`core.queue.Queue`: the task file,
the in-memory state and an in-process worker) and the cluster one
(`lazyqueue.cluster`: DBOS Transact over PostgreSQL). Whatever sits above
this seam reaches nothing below it (no `.store`, no `Worker`), so either
engine can stand behind the same commands and screens.

This module only describes; it imports nothing at run time.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: `lazyqueue add` starts faster
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Callable, Iterable, Protocol

    from .config import Config
    from .events import Event
    from .models import Job, PruneReport, Task
    from .queue import Enqueued, TaskSpec
    from .registry import Registry
    from .line import Line
else:
    Protocol = object


class WorkerInfo:
    """One worker that runs this queue's work, as `worker status` / `cluster status` show it.

    Fields (plain attributes, JSON-able through `to_dict()`): `pid`, `host`,
    `started_at` (ISO-8601 UTC), `heartbeat_at` (ISO-8601 UTC or None),
    `where` ("this process" | "background" | "foreground" | "cluster"),
    `running` (task count), `executor_id` (cluster engine only).
    """


class WorkerControl(Protocol):
    """The worker running inside this process (`Engine.start_worker()`)."""

    paused: bool
    concurrency: int
    stopping: bool  # stop() was called (addition: a second Ctrl-C checks it)
    grace_s: float  # seconds running tasks get on stop (addition: a second Ctrl-C sets 0)

    def pause(self) -> None:
        """Stop claiming new tasks; running ones go on."""

    def resume(self) -> None:
        """Claim again."""

    def stop(self, grace: float | None = None, wait: bool = True, leave_running: bool = False) -> None:
        """Stop claiming; give running tasks `grace` seconds, then re-queue what is left.

        `leave_running` (local engine): stop at once and leave running commands
        to the worker that adopts them next.
        """


class Engine(Protocol):
    """A queue as the CLI, the TUI and `serve` see it."""

    home: "Path"  # the state directory (the cluster engine keeps its local logs and token here)
    config: "Config"
    registry: "Registry"
    warnings: "list[str]"  # one-line notices for the user (damage set aside, config problems)
    worker: "WorkerControl | None"  # the worker in this process, if one was started
    # False (local): this machine's work runs in a worker of this state directory (`add` starts the
    # background one), logs are files here. True (cluster): workers on any host share the queue;
    # they are started on purpose (`lazyqueue worker --backend`), never autostarted
    distributed: bool

    def take_warnings(self) -> "list[str]":
        """The notices gathered since the last call (each told once), for a front end to show."""

    # -- kinds
    def kind(self, name: str | None = None, **options: Any) -> "Callable":
        """Decorator registering a Python handler: `@queue.kind("thumb", concurrency=2)`."""

    # -- enqueue
    def enqueue(self, kind: str, payload: dict | None = None, **options: Any) -> "Enqueued":
        """Queue one task; durable before it returns. Answers (task, deduplicated)."""

    def enqueue_many(self, specs: "list[TaskSpec]") -> "list[Enqueued]":
        """Queue several tasks with one durable write (all or nothing)."""

    # -- queries (copies, safe to keep)
    def get(self, task_id: int) -> "Task":
        """One task (live, else archived); NotFound if unknown."""

    def job(self, job_id: int) -> "Job":
        """One job; NotFound if unknown."""

    def tasks(self, status: "str | Iterable[str] | None" = None, kind: str | None = None,
              job: int | None = None) -> "list[Task]":
        """Live tasks, oldest first, filtered."""

    def recent_tasks(self, limit: int, status: str | None = None, kind: str | None = None,
                     job: int | None = None) -> "tuple[list[Task], int]":
        """The newest `limit` matching live tasks, oldest first, and how many older ones match."""

    def write_tasks_json(self, out: Any, status: str | None = None, kind: str | None = None,
                         job: int | None = None) -> bool:
        """Write the matching live tasks to `out` as a JSON array, a record at a time (flat memory).

        False when this engine cannot and nothing was written: list `tasks()` instead.
        """

    def jobs(self) -> "list[Job]":
        """Live jobs, oldest first."""

    def snapshot(self) -> "tuple[dict[int, Task], dict[int, Job]]":
        """Every live task and job at one instant."""

    def why_waiting(self, task_id: int, now: float | None = None) -> str:
        """Why a queued task is not running yet, in words ("cap full: encode 1/1")."""

    def queued_line(self, tasks: "list[Task]", now: float | None = None) -> "Line | None":
        """Why each of these queued tasks waits, with the line of tasks waiting for a slot
        (`line.Line`), when the engine can tell without reading every queued task; else None."""

    def position(self, task_id: int) -> int:
        """A queued task's place in the run order (1 = next); 0 if not queued."""

    # -- changes
    def retry(self, task_ids: "Iterable[int]") -> "list[Enqueued]":
        """Queue finished-unsuccessfully tasks again with a fresh attempt budget."""

    def retry_failed(self) -> "list[Enqueued]":
        """Retry every failed task."""

    def cancel(self, task_id: int) -> str:
        """Cancel a task: CANCEL_DONE, CANCEL_SIGNALLED, CANCEL_TOO_LATE or CANCEL_NOTHING."""

    def set_priority(self, task_id: int, priority: int) -> "Task":
        """Change a queued task's priority (1 lowest … 10 highest)."""

    def set_stage(self, job_id: int, stage: str) -> "Job":
        """Set a job's user-facing stage."""

    def delete_job(self, job_id: int) -> int:
        """Cancel a job's active tasks, then remove the job and its tasks; answers how many."""

    def delete_tasks(self, task_ids: "Iterable[int]", cancel_running: bool = False) -> "list[Task]":
        """Remove tasks (kept in the archive) and the jobs they leave empty; answers the removed records.

        A running task is refused (LazyQueueError, nothing removed) unless `cancel_running`.
        """

    def edit(self, task_id: int, changes: dict) -> "Task":
        """Change a queued task's label, job title, priority, not_before, dedupe key or payload
        (addition, local engine only: `lazyqueue edit`)."""

    def prune(self) -> "int | PruneReport":
        """Apply the retention policy now; answers how many tasks left the live queue
        (the local engine: a `PruneReport`, which also counts the logs and archive entries removed)."""

    # -- logs
    def log_path(self, task_id: int) -> "Path | None":
        """Where the task's full log lives on this machine, if it does."""

    def read_log(self, task_id: int, offset: int = 0, limit: int | None = None) -> "tuple[bytes, int]":
        """Log bytes from `offset` (at most `limit`), and the offset to ask for next.

        A negative `offset` reads the last -offset bytes (a tail). No log yet: (b"", offset).
        """

    def archive_location(self) -> str:
        """Where `prune` and `delete_job` keep what leaves the live queue, in words (addition)."""

    def task_count(self) -> int:
        """How many live tasks this process holds now, without reading anything (addition)."""

    # -- change feed
    def subscribe(self, callback: "Callable[[Event], None]",
                  types: "tuple[str, ...] | None" = None) -> "Callable[[], None]":
        """Call `callback(event)` for each event (from any process); returns unsubscribe."""

    # -- workers
    def start_worker(self, concurrency: int | None = None, grace_s: float | None = None) -> "WorkerControl":
        """Run a worker on a background thread of this process."""

    def run_worker(self, concurrency: int | None = None, exit_when_idle: bool = False,
                   leave_tracked: bool = False) -> "str | None":
        """Run a worker in this thread until `worker.stop()` (addition: `lazyqueue worker`).

        `self.worker` is set while it runs, so a signal handler can stop it;
        `exit_when_idle`: it stops itself once `is_idle(leave_tracked)` holds.
        Answers why the worker stopped on its own (its state directory was
        removed), or None.
        """

    def request_stop(self) -> None:
        """From a signal handler: stop this process's worker, or the one `run_worker()` is making."""

    def stop_worker(self, grace: float | None = None) -> None:
        """Stop the worker of this process, if any."""

    def workers(self) -> "list[WorkerInfo]":
        """The workers alive for this queue (this process's included)."""

    def is_idle(self, leave_tracked: bool = False) -> bool:
        """Nothing runs, and no queued task can start without outside help.

        Waits out delays and back-offs (not idle while one is pending); a paused
        queue, a failed dependency or an unknown kind count as idle. Tracked work
        (a kind that takes no slot, such as `track`) counts as running unless
        `leave_tracked`.
        """

    def wait(self, task_ids: "Iterable[int]", timeout: float | None = None) -> "list[Task]":
        """Block until every task is finished (or `timeout`: TimeoutError)."""

    def close(self) -> None:
        """Stop this process's worker and let go of the queue."""


def open_queue(home: "str | Path | None" = None, config: "Config | str | Path | None" = None,
               backend: str | None = None, **options: Any) -> Engine:
    """The engine for `backend` (None/"" = the local task file; `postgresql://…` = the cluster)."""
    if backend and backend.startswith(("postgresql://", "postgres://")):
        from ..cluster import ClusterQueue

        return ClusterQueue(backend, home=home, config=config, **options)
    from ..local import Queue  # the local engine, lazyqueue's kinds wired in

    return Queue(home, config, **options)
