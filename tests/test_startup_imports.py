"""The public names load lazily, and `lazyqueue add` starts without the front ends and extras it does not use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_import_lazyqueue_loads_no_submodule_until_a_name_is_used():
    code = (
        "import sys, json, lazyqueue\n"
        "before = sorted(m for m in sys.modules if m.startswith('lazyqueue.'))\n"
        "resolved = {name: getattr(lazyqueue, name).__module__ for name in lazyqueue.__all__ if name != '__version__'}\n"
        "print(json.dumps([before, resolved, lazyqueue.Queue.__name__, lazyqueue.__version__]))\n"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    before, resolved, queue_name, version = json.loads(proc.stdout)
    assert before == []  # nothing below the package is imported by `import lazyqueue`
    assert queue_name == "Queue" and version
    assert resolved["Queue"] == "lazyqueue.local"  # the local engine with the built-in kinds
    assert resolved["TaskSpec"] == "lazyqueue.core.queue" and resolved["Event"] == "lazyqueue.core.events"
    assert all(module.startswith("lazyqueue.") for module in resolved.values())


def test_an_unknown_public_name_is_an_attribute_error():
    proc = run_python("import lazyqueue\nlazyqueue.NoSuchThing\n")
    assert proc.returncode == 1 and "AttributeError" in proc.stderr and "NoSuchThing" in proc.stderr


@pytest.mark.parametrize("autostart", ["0", "1"])
def test_lazyqueue_add_loads_no_front_end_extra_or_http_module(home, tmp_path, autostart):
    config = tmp_path / "config.toml"
    config.write_text("[worker]\nconcurrency = 2\n")
    past = time.time() - 60
    os.utime(config, (past, past))
    env = dict(os.environ, LAZYQUEUE_HOME=str(home), LAZYQUEUE_CONFIG=str(config), LAZYQUEUE_AUTOSTART=autostart)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = (
        "import sys, json, runpy\n"
        "sys.argv = ['lazyqueue', 'add', 'shell', '--', 'true']\n"
        "try:\n"
        "    runpy.run_module('lazyqueue', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "sys.stderr.write(json.dumps(sorted(sys.modules)) + '\\n')\n"
    )
    try:
        proc = run_python(code, env)
        assert proc.returncode == 0, proc.stderr
    finally:
        if autostart == "1":
            subprocess.run([sys.executable, "-m", "lazyqueue", "worker", "stop"], env=dict(env, PYTHONPATH=str(ROOT)),
                           capture_output=True, timeout=60, cwd=ROOT)
    loaded = json.loads(proc.stderr.strip().splitlines()[-1])
    assert "lazyqueue.core.queue" in loaded  # the add did run
    heavy = ("textual", "rich", "lazyqueue.tui", "lazyqueue.serve", "lazyqueue.cluster", "starlette", "uvicorn",
             "dbos", "sqlalchemy", "psycopg", "http", "urllib.request", "ssl", "socket", "email", "dataclasses",
             "lazyqueue.kinds.download", "lazyqueue.kinds.track", "lazyqueue.kinds.web", "asyncio", "concurrent")
    found = [m for m in loaded if m.split(".")[0] in heavy or any(m == h or m.startswith(h + ".") for h in heavy)]
    assert found == []
