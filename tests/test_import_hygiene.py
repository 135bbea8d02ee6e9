"""The layers hold: arrows point down only, and the CLI, the TUI and serve use the seam alone.

In the style of harlequin's tests/unit_tests/test_import_hygiene.py: each core
module is imported in a fresh interpreter, which must not load Textual or Rich.
The rest reads the source: what a module imports, and which attributes of a
queue the front ends touch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lazyqueue"
CORE_MODULES = sorted(f"lazyqueue.core.{p.stem}" for p in (PACKAGE / "core").glob("*.py") if p.stem != "__init__")
BELOW_THE_SEAM = {"worker", "taskfile", "state", "lifecycle", "scheduling", "processes", "filelock_posix", "store",
                  "reader", "feed", "head_cache", "journal_line", "adoption", "wake"}
FRONT_ENDS = [PACKAGE / "cli.py", PACKAGE / "run.py", *sorted((PACKAGE / "tui").rglob("*.py")),
              *sorted((PACKAGE / "serve").rglob("*.py"))]


def imports_of(path: Path) -> list[str]:
    """Every module `path` imports (relative imports resolved), anywhere in the file."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.append(module)
            found += [f"{module}.{a.name}" for a in node.names]  # `from .core import worker`
    return found


@pytest.mark.parametrize("module", CORE_MODULES)
def test_a_core_module_loads_neither_textual_nor_rich(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"{module} loads {proc.stdout.strip()}"


def test_the_core_imports_nothing_above_it():
    above = ("lazyqueue.kinds", "lazyqueue.tui", "lazyqueue.cli", "lazyqueue.serve", "lazyqueue.run",
             "lazyqueue.local", "lazyqueue.cluster", "lazyqueue.demo", "lazyqueue.bench")
    offenders = {}
    for path in (PACKAGE / "core").glob("*.py"):
        if path.name == "engine.py":
            continue  # open_queue is the seam's factory: it names the engines it opens
        bad = [m for m in imports_of(path) if m.startswith(above)]
        if bad:
            offenders[path.name] = bad
    assert offenders == {}


def test_no_circle_between_the_facade_the_worker_the_config_and_the_task_file():
    def core_imports(name: str) -> set[str]:
        return {m.split(".")[2] for m in imports_of(PACKAGE / "core" / f"{name}.py") if m.startswith("lazyqueue.core.")}

    assert "queue" not in core_imports("worker")  # the worker is handed what it needs
    assert "taskfile" not in core_imports("config")
    for low in ("state", "lifecycle", "taskfile", "scheduling", "processes"):
        assert not core_imports(low) & {"queue", "worker", "config"}, low
    assert not core_imports("state") & {"taskfile", "lifecycle"}, "the state does no I/O and decides nothing"


def test_the_front_ends_import_nothing_below_the_seam():
    offenders = {}
    for path in FRONT_ENDS:
        bad = [m for m in imports_of(path) if m.startswith("lazyqueue.core.") and m.split(".")[2] in BELOW_THE_SEAM]
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def seam_names() -> set[str]:
    """What engine.py's Engine and WorkerControl declare (methods and attributes)."""
    tree = ast.parse((PACKAGE / "core" / "engine.py").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in ("Engine", "WorkerControl"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(item.target.id)
    return names


def test_the_front_ends_use_only_what_the_seam_declares():
    allowed = seam_names()
    assert {"enqueue", "subscribe", "log_path", "is_idle", "workers", "worker"} <= allowed  # the check did read it
    offenders = {}
    for path in FRONT_ENDS:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            holder = node.value
            name = holder.id if isinstance(holder, ast.Name) else holder.attr if isinstance(holder, ast.Attribute) else None
            if name == "queue" and node.attr not in allowed:
                offenders.setdefault(str(path.relative_to(ROOT)), set()).add(node.attr)
            if node.attr in ("store", "taskfile", "queued_ids", "running_ids", "ready_heap"):
                offenders.setdefault(str(path.relative_to(ROOT)), set()).add(node.attr)
    assert offenders == {}


def test_the_front_ends_tell_the_engines_apart_only_by_what_the_seam_declares():
    """No `hasattr(queue, "url")`, `getattr(queue, "x", None)` or `isinstance(queue, Queue)`: a capability is declared."""
    allowed = seam_names()
    assert "distributed" in allowed
    offenders = {}
    for path in FRONT_ENDS:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args):
                continue
            holder = node.args[0]
            name = holder.id if isinstance(holder, ast.Name) else holder.attr if isinstance(holder, ast.Attribute) else None
            if name != "queue":
                continue
            if node.func.id in ("hasattr", "getattr") and len(node.args) > 1:
                asked = node.args[1]
                if not (isinstance(asked, ast.Constant) and asked.value in allowed):
                    offenders.setdefault(str(path.relative_to(ROOT)), set()).add(f"{node.func.id}({ast.unparse(asked)})")
            if node.func.id == "isinstance":
                offenders.setdefault(str(path.relative_to(ROOT)), set()).add(f"isinstance({ast.unparse(node.args[1])})")
    assert offenders == {}
