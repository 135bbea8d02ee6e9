"""One lazyqueue `track`s a task served by another (two state dirs, real HTTP)."""

from __future__ import annotations

import sys

from lazyqueue import Queue

from ..conftest import wait_until
from .helpers import shell, start_serving

STATUS_SCRIPT = """\
import sys, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
print(urllib.request.urlopen(request, timeout=10).read().decode())
"""


def test_a_track_task_follows_a_task_served_from_another_state_dir(tmp_path):
    served = start_serving(tmp_path / "a")
    follower = Queue(tmp_path / "b")
    try:
        work = served.client.post("/tasks", json=shell(["sh", "-c", 'sleep 1.5; echo \'::result {"rows": 3}\''])).json()
        script = tmp_path / "status.py"
        script.write_text(STATUS_SCRIPT)
        url = f"{served.url}/tasks/{work['id']}/status"
        command = f"{sys.executable} {script} {url} {served.server.token}"
        tracked, _ = follower.enqueue("track", {"command": command, "interval": 1})
        follower.start_worker()
        done = wait_until(lambda: (t := follower.get(tracked.id)).status in ("completed", "failed") and t,
                          timeout=30, interval=0.1, message="the track task to finish")
        assert done.status == "completed", done.error
        assert done.result["remote_state"] == "ready"
        assert done.result["request_id"] == f"t{work['id']}"
        assert served.queue.get(work["id"]).result == {"rows": 3}
        assert done.result["result"] == {"rows": 3}  # the remote task's result, kept in the local record
        assert done.meta["remote_state"] == "ready"
    finally:
        follower.close()
        served.stop()
