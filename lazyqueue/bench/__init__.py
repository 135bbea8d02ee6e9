"""Benchmarks: `python -m lazyqueue.bench` (see BENCHMARKS.md)."""
