"""A real PostgreSQL 15 for the cluster tests: started here, on a unix socket, stopped at the end.

One server per test process (xdist worker); each test gets its own database,
with the schema created by `lazyqueue cluster init`. CI installs PostgreSQL
(.ci/run): these tests are never skipped there.
"""

from __future__ import annotations

import itertools
import os

import pytest

from lazyqueue.cluster.testing import TempPostgres

from ..conftest import ROOT

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres():
    server = TempPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cluster_url(postgres, tmp_path):
    """A fresh database with the schema, for this test."""
    from .helpers import lq

    url = postgres.createdb(f"lq_{os.getpid()}_{next(_names)}")
    env = dict(os.environ, PYTHONPATH=str(ROOT), LAZYQUEUE_HOME=str(tmp_path / "init-home"))
    proc = lq(env, "--backend", url, "cluster", "init")
    assert proc.returncode == 0, proc.stderr
    return url


@pytest.fixture
def cluster(cluster_url, tmp_path):
    """A Cluster helper: env per host, CLI calls, worker processes (stopped at the end)."""
    from .helpers import Cluster

    c = Cluster(cluster_url, tmp_path)
    try:
        yield c
    finally:
        c.stop_all()
