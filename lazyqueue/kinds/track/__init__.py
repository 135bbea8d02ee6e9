"""The built-in `track` kind: follow a job that runs somewhere else.

    lazyqueue add track url=https://api.example.com/jobs/42 [cancel_url=…]
    lazyqueue add track command="gh run view 123 --json … | jq …" [cancel_command="…"]

The source (an HTTP GET of `url`, or `command` run with `sh -c` and its stdout
parsed) answers JSON:

    {"state": "queued|running|ready|failed|expired|cancelled", "progress": 0..100,
     "queue_position": N, "download_url": "…", "expires_at": "ISO-8601",
     "error": "…", "request_id": "…", "result": …}

Those fields are read (`status` for `state` too); any other is ignored.

(camelCase spellings — queuePosition, downloadUrl, expiresAt, errorReason,
requestId — are accepted too.)

Cadence: the first poll goes out at once, then every `interval` seconds
(payload, default 2, never under 1). Once 60 s have passed since tracking
began, the gaps grow to 5 s, 10 s, then 30 s (the cap). A terminal state
(ready, failed, expired, cancelled) ends polling: no poll after it. After 3
consecutive failed polls the task shows "couldn't refresh status — retrying
every 30 s" and polls every 30 s; the first good answer clears that and the
normal cadence resumes.

Many tracked tasks share one process-wide poll gate: poll times are aligned to
a 0.25 s tick grid, so trackers on the same cadence fire in the same tick as a
batch, and at most 3 polls are in flight at once (the rest of the batch waits
its turn, first come first served). 50 tracked jobs never make 50 requests at once.

Outcome:
- queued / running: the task stays `running`; the position is in the meta,
  the remote progress is the task's `progress` (with a label such as
  "queued · position 12" or "running"). A remote progress of 100 before
  `ready` shows as 99 "finalizing".
- ready: the task completes; result {"remote_state": "ready", "download_url",
  "expires_at", "request_id", "source"}, plus "result": the source's own
  `result` field, whatever it holds, when it answers one. Ready without a download_url also
  completes, but the result says {"artifact_unavailable": true} and the meta
  carries retry_offered (so `lazyqueue retry` can ask for it again).
- failed: fails (fatal, not retried) with the remote error and the request id.
- expired: fails (fatal) "expired remotely"; meta remote_state = "expired".
- cancelled remotely: the task ends `cancelled`.
- Cancel from lazyqueue: the cancel_command / cancel_url (POST) is called in a
  thread and the source is polled again at once. If it answers ready, the task
  completes (the cancel came too late, and the completed event says so); if it
  answers cancelled — or there is no cancel endpoint, or the source does not
  confirm within 30 s — the task ends `cancelled`. A worker shutting down
  stops tracking without cancelling the remote job; the task resumes later.

For the detail pane, `task.meta` holds (names are stable):
  remote_state     queued | running | ready | failed | expired | cancelled
  queue_position   int or null
  request_id       for support
  expires_at       ISO-8601 expiry of the artifact (see `expires_in_text`)
  download_url     once ready
  remote_error     the source's error text (failed)
  poll_error       the banner text while polls keep failing, else null
  banner           the same text, under the key the detail pane shows
  last_poll_error  what the last failed poll said
  poll_failures    consecutive failed polls when the banner was last set
  queue_notice     "taking longer than expected …" after 60 s queued,
                   "stuck in queue …" after 5 min
  cancel           "sent" | "failed: …" | "no cancel endpoint"
  cancel_too_late  true when a cancel lost the race with ready
  artifact_unavailable, retry_offered   ready without a download_url
  source           the url or command polled
and `task.result` holds the ready result above.

Payload: command | url, cancel_command, cancel_url, interval, poll_timeout
(per poll or cancel call, default 30 s), cwd (where commands run; defaults to
the directory the task was added from). Commands get LAZYQUEUE_TASK_ID and,
once the source has named one, LAZYQUEUE_REQUEST_ID in their environment.
Dedupe key: `track:<url or command>`.

Modules: status (the JSON protocol), fetch (GET a URL / run a command, send a
cancel), gate (the process-wide poll gate), poller (the poll loop), bridge
(poller → task: meta, progress, log, outcome; the handler). This module holds
the kind itself and its payload validation.
"""

from __future__ import annotations

import math
import os

from ...core.registry import Backoff, Field, Kind
from ..web import check_web_url
from .bridge import BANNER, TaskBridge, follow
from .fetch import command_fetcher, make_fetcher, run_sh, send_cancel, url_fetcher
from .gate import GATE, PollGate
from .poller import MIN_INTERVAL, CancelNotConfirmed, PollListener, Poller, PollStopped
from .status import PollError, RemoteStatus, expires_in_text, parse_status


def _validate(payload: dict) -> dict:
    out = dict(payload)
    command = out.get("command")
    url = out.get("url")
    command = command.strip() if isinstance(command, str) else command
    url = url.strip() if isinstance(url, str) else url
    if bool(command) == bool(url):
        raise ValueError("give one status source: command='CMD' (its stdout is JSON) or url=URL")
    if url:
        out["url"] = check_web_url(url)
        out.pop("command", None)
    else:
        if not isinstance(command, str):
            raise ValueError("command must be a string (run with sh -c)")
        out["command"] = command
        out.pop("url", None)
    if out.get("cancel_command") and out.get("cancel_url"):
        raise ValueError("give cancel_command or cancel_url, not both")
    cancel_url = out.get("cancel_url")
    if cancel_url:
        check_web_url(str(cancel_url), "cancel_url")
    for name in ("interval", "poll_timeout"):
        value = out.get(name)
        if value in (None, ""):
            out.pop(name, None)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number of seconds (got {value!r})") from None
        if not math.isfinite(number) or number <= 0:
            raise ValueError(f"{name} must be more than 0 seconds (got {value!r})")
        out[name] = max(MIN_INTERVAL, number) if name == "interval" else number
    if command or out.get("cancel_command"):
        out.setdefault("cwd", os.getcwd())
    return out


def _source(payload: dict) -> str:
    return str(payload.get("url") or payload.get("command") or "")


TRACK = Kind(
    name="track",
    handler=follow,
    validate=_validate,
    fields=(
        Field("command", required=False, help="status command (sh -c; prints the status JSON)"),
        Field("url", required=False, help="status URL (GET answers the status JSON)"),
        Field("cancel_command", required=False, help="command that cancels the remote job"),
        Field("cancel_url", required=False, help="URL that cancels the remote job (POST)"),
    ),
    concurrency=50,
    timeout=None,
    max_attempts=3,
    backoff=Backoff(base=5.0, factor=2.0, max=60.0),
    dedupe=lambda p: f"track:{_source(p)}" if _source(p) else None,
    label=lambda p: f"track {_source(p)}",
    description="follow a remote job by polling a status command or URL",
    source="built-in",
    uses_slot=False,
)

__all__ = [
    "TRACK", "Poller", "PollGate", "PollListener", "PollError", "PollStopped", "CancelNotConfirmed",
    "RemoteStatus", "TaskBridge", "GATE", "parse_status", "expires_in_text", "url_fetcher",
    "command_fetcher", "send_cancel", "make_fetcher", "run_sh", "BANNER",
]
