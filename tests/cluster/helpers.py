"""Drive `lazyqueue` against the cluster: CLI calls and `lazyqueue worker` processes as separate hosts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from ..cli.helpers import PYTHON, lq
from ..conftest import ROOT, wait_until

LEASE_S = 2.0
__all__ = ["Cluster", "LEASE_S", "PYTHON", "lq"]


class Cluster:
    """One cluster database; each `env(name)` is a separate state dir, as if on its own host."""

    def __init__(self, url: str, tmp: Path, config: str = ""):
        self.url = url
        self.tmp = tmp
        self.config = tmp / "cluster.toml"
        self.write_config(config)
        self.workers: list[subprocess.Popen] = []

    def write_config(self, extra: str = "") -> None:
        self.config.write_text(f"[backend]\nlease = {LEASE_S}\n{extra}\n")
        self.close_queue()

    _q = None

    @property
    def q(self):
        """A ClusterQueue in this process (observing in-process spares a CLI start per poll)."""
        if self._q is None:
            from lazyqueue.cluster import ClusterQueue

            self._q = ClusterQueue(self.url, home=self.tmp / "observer", config=self.config, plugins=False)
        return self._q

    def close_queue(self) -> None:
        if self._q is not None:
            self._q.close()
            self._q = None

    def env(self, host: str = "ctl", **extra: str) -> dict:
        env = dict(os.environ)
        env.update(PYTHONPATH=str(ROOT), LAZYQUEUE_HOME=str(self.tmp / host), LAZYQUEUE_CONFIG=str(self.config),
                   LAZYQUEUE_BACKEND=self.url, NO_COLOR="1", COLUMNS="200", **extra)
        return env

    def run(self, *args: str, host: str = "ctl") -> subprocess.CompletedProcess:
        return lq(self.env(host), *args)

    def ok(self, *args: str, host: str = "ctl") -> subprocess.CompletedProcess:
        proc = self.run(*args, host=host)
        assert proc.returncode == 0, f"lazyqueue {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def add(self, *args: str, host: str = "ctl") -> dict:
        return json.loads(self.ok("add", "--json", *args, host=host).stdout)

    def tasks(self) -> list[dict]:
        return [t.to_dict() for t in self.q.tasks()]

    def task(self, tid: int) -> dict:
        return self.q.get(tid).to_dict()

    def worker(self, host: str, *args: str, machine: str | None = None) -> subprocess.Popen:
        """Start `lazyqueue worker` as host `host`; returns once its heartbeat row is there."""
        return self.start_workers(host, args=args, machine=machine)[0]

    def start_workers(self, *hosts: str, args: tuple = (), machine: str | None = None,
                      module: str = "lazyqueue") -> list[subprocess.Popen]:
        """Start one worker per state dir `hosts` at once; returns when every heartbeat row is there.

        `machine`: the host name they give the cluster (LAZYQUEUE_HOST); else this machine's.
        `module`: what runs (`python -m MODULE worker …`), e.g. a worker with Python kinds.
        """
        extra = {"LAZYQUEUE_HOST": machine} if machine else {}
        procs = [subprocess.Popen([PYTHON, "-m", module, "worker", *args], env=self.env(host, **extra),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
                 for host in hosts]
        self.workers += procs

        def up() -> bool:
            dead = [p for p in procs if p.poll() is not None]
            assert not dead, dead[0].stderr.read()
            pids = {w["pid"] for w in self.status()["workers"] if w["alive"]}
            return all(p.pid in pids for p in procs)

        wait_until(up, timeout=60, interval=0.1, message=f"workers {hosts} to start")
        return procs

    def status(self) -> dict:
        from lazyqueue.cluster.status import all_workers

        return {"workers": [w.to_dict() for w in all_workers(self.q)]}

    def wait_status(self, tid: int, statuses, timeout: float = 30) -> dict:
        statuses = {statuses} if isinstance(statuses, str) else set(statuses)
        return wait_until(lambda: (t := self.task(tid))["status"] in statuses and t, timeout=timeout, interval=0.1,
                          message=f"t{tid} to be {statuses}")

    def stop_all(self) -> None:
        self.close_queue()
        for proc in self.workers:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in self.workers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
