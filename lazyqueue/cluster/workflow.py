"""The DBOS workflow every lazyqueue task round runs: one step, one attempt.

The step does the whole attempt (claim the row, run the handler, record the
outcome), so a worker that dies mid-attempt leaves the step unrecorded and a
resumed workflow runs it again — which claims the row afresh, spending an
attempt of the task's interruption budget. Nothing escapes the step as an
exception in normal operation; what does is pickled by DBOS, so only importable
classes (lazyqueue.core.errors, lazyqueue.cluster.errors) are raised.
"""

from __future__ import annotations

from dbos import DBOS

from .rows import WORKFLOW_NAME

_WORKER = None  # the ClusterWorker of this process (one DBOS per process)


def bind(worker) -> None:
    global _WORKER
    _WORKER = worker


@DBOS.step(name="lazyqueue.attempt", retries_allowed=False)
def attempt(task_id: int, workflow: str) -> str:
    from .errors import ClusterError

    if _WORKER is None:
        raise ClusterError("no lazyqueue worker in this process")
    try:
        return _WORKER.run_attempt(task_id, workflow)
    except ClusterError:
        raise
    except Exception as exc:  # noqa: BLE001 - DBOS pickles what escapes: only an importable class, with text
        from ..core.errors import safe_failure_text

        raise ClusterError(f"t{task_id}: {safe_failure_text(exc)}") from None


@DBOS.workflow(name=WORKFLOW_NAME)
def run_task(task_id: int) -> str:
    """One round of a task: claim, run and record one attempt."""
    return attempt(task_id, DBOS.workflow_id)
