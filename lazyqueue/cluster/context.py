"""The handler's context on a cluster worker: the same TaskContext, with output sent to the database too."""

from __future__ import annotations

from ..core.context import TaskContext


class ClusterContext(TaskContext):
    """A TaskContext whose `log(line)` also reaches the database (readable from any host)."""

    def log(self, line: str) -> None:
        super().log(line)  # the full log, on this machine
        self._reporter.log_line(self.task.id, line.rstrip("\n") + "\n")

    def output(self, line: str) -> None:
        """A line a command wrote straight into the log file: the database gets it too."""
        self._reporter.log_line(self.task.id, line.rstrip("\n") + "\n")
