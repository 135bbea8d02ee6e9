"""The local engine with lazyqueue's own kinds wired in: what `from lazyqueue import Queue` gives.

`core.queue.Queue` knows no kind by itself; this is where the built-in kinds
(shell, download, track) and the config's command kinds are put into it, from
above the core.
"""

from __future__ import annotations

from .core import queue as core_queue
from .kinds import default_registry, wire_commands


class Queue(core_queue.Queue):
    """A persisted queue on one state directory, with the built-in kinds and the config's command kinds.

    Arguments as `lazyqueue.core.queue.Queue`; a `registry` given replaces the
    built-ins (the config's kinds are still added to it).
    """

    def __init__(self, home=None, config=None, registry=None, *, light: bool = False, plugins: bool = True):
        super().__init__(home, config, registry if registry is not None else default_registry(),
                         light=light, plugins=plugins, kinds=wire_commands)

    def run(self, kind: str, payload: dict | None = None, background_after: float = 2.0, **options):
        """Queue a task and wait up to `background_after` s: its result if it completed, else the task.

        The worker of this process runs it if one was started, else the background worker.
        """
        from .run import run_task

        return run_task(self, kind, payload, background_after, **options)
