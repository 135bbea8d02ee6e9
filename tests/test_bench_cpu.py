"""The benchmark's CPU accounting counts what the machine paid, daemonized helpers included."""

import subprocess
import sys
import textwrap

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreaper is Linux only")
def test_run_timed_counts_a_daemonized_grandchild():
    # the shell starts a busy Python in the background and exits at once, as task-spooler's client does
    code = textwrap.dedent(f"""
        from lazyqueue.bench.cpu import become_subreaper, run_timed, reap_orphans, children_cpu
        import time
        assert become_subreaper()
        c0 = children_cpu()
        wall, cpu, rc = run_timed(["sh", "-c", "{sys.executable} -c 'import time; t=time.process_time()\\nwhile time.process_time()-t<0.3: pass' &"])
        deadline = time.monotonic() + 20
        while children_cpu() - c0 < 0.25 and time.monotonic() < deadline:
            reap_orphans()
            time.sleep(0.01)
        print(rc, round(wall, 3), round(children_cpu() - c0, 3))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rc, wall, cpu = out.stdout.split()
    assert rc == "0"
    assert float(wall) < 0.25  # the shell itself returned before the background work was done
    assert float(cpu) >= 0.25  # and the adopted orphan's CPU was still counted once it was reaped
