"""The cluster benchmark's harness runs end to end on a tiny workload."""

from __future__ import annotations


def test_cluster_bench_figures_come_out(tmp_path):
    from lazyqueue.bench.cluster import Bench

    bench = Bench()
    try:
        assert bench.throughput(20, 1) > 0
        assert bench.cap_overlap(6) == 2
        assert 0 < bench.kill_resume() < 10
    finally:
        bench.close()
