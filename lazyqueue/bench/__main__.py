"""`python -m lazyqueue.bench` — run the benchmarks side by side and print medians and ratios.

    python -m lazyqueue.bench                 # every scenario
    python -m lazyqueue.bench --quick         # a short run
    python -m lazyqueue.bench --only add rss  # some scenarios (also: archive, add_states, autostart, …)
    python -m lazyqueue.bench --json          # machine-readable

Optional comparison tools: huey (`pip install 'lazyqueue[bench]'`) and
task-spooler (`apt-get install task-spooler`); without them the rows say so.
"""

from __future__ import annotations

import argparse
import sys

SCENARIOS = {
    "inprocess": "lazyqueue.bench.inprocess",
    "shell": "lazyqueue.bench.shell",
    "add": "lazyqueue.bench.cli_add",
    "add_states": "lazyqueue.bench.add_states",
    "add_from": "lazyqueue.bench.add_from",
    "autostart": "lazyqueue.bench.autostart",
    "rss": "lazyqueue.bench.rss",
    "archive": "lazyqueue.bench.archive",
    "reads": "lazyqueue.bench.reads",
    "worker": "lazyqueue.bench.worker_scale",
    "serve": "lazyqueue.bench.serve",
    "cluster": "lazyqueue.bench.cluster",
    "tui": None,
}
# the TUI targets (DESIGN.md): keys answered within 50 ms, progress on screen < 50 ms, first frame < 1 s
TUI_GOALS = {
    "key_p95_ms": ("≤ 50 ms", 50.0),
    "event_p95_ms": ("≤ 50 ms", 50.0),
    "first_frame_ms": ("< 1 s", 1000.0),
    "rss_mb": ("< 150 MB", 150.0),
    "other_visible_p95_ms": ("≤ 1 s", 1000.0),
    "cli_add_ms": ("< 100 ms", 100.0),
}
TUI_RUNS = 3  # each run is a fresh app on a fresh queue; every figure is the median of the runs
ALIASES = {"cli_add": "add", "in-process": "inprocess", "huey": "inprocess", "tsp": "shell"}


def run_tui(quick: bool):
    from .report import Row, median

    import json
    import subprocess

    size = ["--history", "2000", "--running", "20", "--keys", "30"] if quick else []
    rows = []
    # as specified: 100 tasks reporting progress; then the same with tasks finishing and starting all the time
    # and while another process adds and finishes tasks through the task file
    for scenario, extra in (("tui", []), ("tui churn", ["--churn"]), ("tui other process", ["--other-process"])):
        runs = []
        for _ in range(1 if quick else TUI_RUNS):
            # a process per run: its memory figure is one app's, not what earlier runs left behind
            done = subprocess.run([sys.executable, "-m", "lazyqueue.bench.tui", "--json", *size, *extra],
                                  capture_output=True, text=True)
            if done.returncode != 0:  # a broken TUI must not hide the other figures
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                return rows + [Row(scenario, "TUI benchmark failed", note=last[:200])]
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        found = []
        for name in runs[0]:
            low = name.lower()
            unit = "ms" if low.endswith("_ms") else "MB" if low.endswith("_mb") or "rss" in low else "s" if low.endswith("_s") else ""
            samples = [r[name] for r in runs]
            row = Row(scenario, name, lazyqueue=median(samples), unit=unit, runs=len(samples), samples=samples)
            if name in TUI_GOALS:
                goal, limit = TUI_GOALS[name]
                row.goal, row.ok = goal, row.lazyqueue <= limit
            found.append(row)
        found.sort(key=lambda r: (r.metric not in TUI_GOALS, r.unit == ""))  # the figures that have goals first
        rows += found
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lazyqueue.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="SCENARIO", help=f"some of: {', '.join(SCENARIOS)}")
    parser.add_argument("--quick", action="store_true", help="fewer tasks and runs (a smoke test)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    chosen = list(SCENARIOS)
    if args.only:
        chosen = []
        for name in args.only:
            name = ALIASES.get(name, name)
            if name not in SCENARIOS:
                parser.error(f"unknown scenario {name!r} (choose from {', '.join(SCENARIOS)})")
            chosen.append(name)
    from importlib import import_module

    from .report import Row, table, to_json

    rows: list[Row] = []
    for name in chosen:
        if not args.json:
            print(f"… {name}", file=sys.stderr, flush=True)
        if name == "tui":
            rows += run_tui(args.quick)
            continue
        try:
            rows += import_module(SCENARIOS[name]).run(quick=args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the others
            rows.append(Row(name, "failed", note=f"{exc.__class__.__name__}: {exc}"[:300]))
    if args.json:
        print(to_json(rows))
    else:
        table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
