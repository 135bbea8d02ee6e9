"""The core and the CLI's path never pull in Textual or Rich."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_core_imports_neither_textual_nor_rich(home):
    code = (
        "import sys, json\n"
        "import lazyqueue, lazyqueue.core.queue, lazyqueue.core.worker, lazyqueue.kinds.shell\n"
        "from lazyqueue import Queue\n"
        "q = Queue(plugins=False)\n"
        "q.enqueue('shell', {'command': 'true'})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'lazyqueue'))))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    assert "lazyqueue.core.worker" in loaded  # the check did run
    assert [m for m in loaded if m.split(".")[0] in ("textual", "rich")] == []
    assert not any(m.startswith("lazyqueue.tui") for m in loaded)


def test_the_local_engine_never_imports_dbos_sqlalchemy_or_psycopg(home):
    """The cluster engine's libraries load only when a postgresql:// backend is chosen."""
    code = (
        "import sys, json\n"
        "from lazyqueue import cli\n"
        "cli.main(['add', 'shell', '--', 'true'])\n"
        "cli.main(['ls', '--json'])\n"
        "from lazyqueue.core.engine import open_queue\n"
        "q = open_queue(plugins=False); q.start_worker(); q.close()\n"
        "import lazyqueue.cluster\n"  # the package itself is light too
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('dbos', 'sqlalchemy', 'psycopg', 'lazyqueue'))))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.splitlines()[-1])
    assert "lazyqueue.cluster" in loaded  # the check did run
    assert [m for m in loaded if m.split(".")[0] in ("dbos", "sqlalchemy", "psycopg")] == []
    assert [m for m in loaded if m.startswith("lazyqueue.cluster.")] == ["lazyqueue.cluster.errors"]


def test_a_worker_of_the_apps_own_kinds_never_loads_download_track_or_plugins(home):
    """Their modules (http, ssl, asyncio, entry points: ~80 ms) load only once a task of theirs is held."""
    code = (
        "import sys, json\n"
        "from lazyqueue import Queue\n"
        "q = Queue()\n"  # plugins deferred, as an app gets it
        "q.kind('noop')(lambda ctx: 'ok')\n"
        "q.start_worker(concurrency=2)\n"
        "ids = [q.enqueue('noop', {'i': i})[0].id for i in range(5)]\n"
        "done = [t.result for t in q.wait(ids, timeout=20, poll=0.01)]\n"
        "before = sorted(m for m in ('lazyqueue.kinds.download', 'lazyqueue.kinds.track', 'asyncio', 'ssl',\n"
        "                            'importlib.metadata') if m in sys.modules)\n"
        "t = q.enqueue('download', {'url': 'http://127.0.0.1:9/x', 'dest': sys.argv[1]}, max_attempts=1)[0]\n"
        "q.wait([t.id], timeout=20, poll=0.01)\n"
        "q.close()\n"
        "print(json.dumps([done, before, 'lazyqueue.kinds.download' in sys.modules]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), LAZYQUEUE_HOME=str(home))
    proc = subprocess.run([sys.executable, "-c", code, str(home.parent / "out")], env=env, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    done, before, loaded_later = json.loads(proc.stdout.splitlines()[-1])
    assert done == ["ok"] * 5
    assert before == []
    assert loaded_later  # a download task queued: its kind was loaded for its cap and its handler
