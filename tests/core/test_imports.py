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
