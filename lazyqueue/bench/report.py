"""The shared result table: one row per measured figure, side by side with the comparison."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass, field


@dataclass
class Row:
    scenario: str
    metric: str
    lazyqueue: float | None = None  # median
    other: float | None = None  # median of the comparison tool, if any
    other_name: str = ""
    unit: str = "ms"
    goal: str = ""  # human-readable, e.g. "ratio ≤ 1.0"
    ok: bool | None = None  # goal met? None = no goal / not measured
    runs: int = 0
    note: str = ""
    samples: list = field(default_factory=list)
    other_samples: list = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.lazyqueue is None or not self.other:
            return None
        return self.lazyqueue / self.other


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def max_overlap(spans) -> int:
    """The most (start, end) spans open at one instant (an end before a start at the same time)."""
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    best = cur = 0
    for _, step in edges:
        cur += step
        best = max(best, cur)
    return best


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if not unit:
        return f"{value:g}"
    if unit == "MB" or value >= 100:
        return f"{value:.1f} {unit}"
    if value >= 10:
        return f"{value:.2f} {unit}"
    return f"{value:.3f} {unit}"


def table(rows: list[Row], out=None) -> None:
    out = out or sys.stdout
    m = machine()
    out.write(f"lazyqueue bench — {m['nproc']} CPU(s), {m['cpu']}, Python {m['python']}\n")
    head = ("scenario", "metric", "lazyqueue", "other", "ratio", "goal", "")
    lines = [head]
    for r in rows:
        other = _fmt(r.other, r.unit) + (f" ({r.other_name})" if r.other_name and r.other is not None else "")
        if r.other is None and r.other_name:
            other = r.other_name
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        verdict = {True: "ok", False: "MISS", None: ""}[r.ok]
        lines.append((r.scenario, r.metric, _fmt(r.lazyqueue, r.unit), other, ratio, r.goal, verdict))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    for n, line in enumerate(lines):
        out.write("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() + "\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths).rstrip() + "\n")
    notes = [f"  {r.scenario}/{r.metric}: {r.note}" for r in rows if r.note]
    if notes:
        out.write("notes (medians; runs per figure in --json):\n" + "\n".join(notes) + "\n")


def to_json(rows: list[Row]) -> str:
    data = {"machine": machine(), "rows": []}
    for r in rows:
        d = asdict(r)
        d["ratio"] = r.ratio
        data["rows"].append(d)
    return json.dumps(data, indent=2)
