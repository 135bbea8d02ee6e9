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
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import os
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from ...core import processes
from ...core.errors import Cancelled, FatalError
from ...core.registry import Backoff, Field, Kind

STATES = ("queued", "running", "ready", "failed", "expired", "cancelled")
ACTIVE_STATES = frozenset({"queued", "running"})
TERMINAL_STATES = frozenset({"ready", "failed", "expired", "cancelled"})

DEFAULT_INTERVAL = 2.0
MIN_INTERVAL = 1.0
BACKOFF_AFTER_S = 60.0
BACKOFF_STEPS = (5.0, 10.0, 30.0)
FAILURES_FOR_BANNER = 3
FAILURE_INTERVAL = 30.0
BANNER = "couldn't refresh status — retrying every 30 s"
CANCEL_CONFIRM_S = 30.0
POLL_TIMEOUT = 30.0
MAX_IN_FLIGHT = 3
GATE_TICK = 0.25
STALE_KEYS = ("artifact_unavailable", "cancel_too_late", "remote_error", "poll_error", "banner", "poll_failures",
              "last_poll_error", "queue_notice", "cancel")
QUEUED_NOTICE_S = 60.0
QUEUED_STUCK_S = 300.0
MAX_BODY = 1 << 20
USER_AGENT = "lazyqueue"


class PollError(Exception):
    """One poll did not produce a usable status."""


class PollStopped(Exception):
    """The poller was told to stop (cancel without an endpoint, timeout, shutdown)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CancelNotConfirmed(Exception):
    """A cancel was sent but the source kept answering queued/running."""


# ---------------------------------------------------------------- status
@dataclass
class RemoteStatus:
    state: str
    progress: float | None = None
    queue_position: int | None = None
    download_url: str | None = None
    expires_at: str | None = None
    error: str | None = None
    request_id: str | None = None
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @classmethod
    def from_data(cls, data: Any) -> "RemoteStatus":
        if not isinstance(data, dict):
            raise PollError(f"status is not a JSON object (got {type(data).__name__})")

        def pick(*names):
            for name in names:
                if data.get(name) not in (None, ""):
                    return data[name]
            return None

        state = pick("state", "status")
        state = state.strip().lower() if isinstance(state, str) else state
        if state not in STATES:
            raise PollError(f"status has no known state (got {state!r})")
        progress = pick("progress")
        if isinstance(progress, bool) or not isinstance(progress, (int, float)) or not math.isfinite(progress):
            try:
                progress = float(progress) if isinstance(progress, str) else None
            except ValueError:
                progress = None
        if progress is not None:
            progress = max(0.0, min(100.0, float(progress)))
        position = pick("queue_position", "queuePosition")
        try:
            position = int(position) if position is not None and not isinstance(position, bool) else None
        except (TypeError, ValueError):
            position = None

        def text(*names):
            value = pick(*names)
            return None if value is None else str(value)

        return cls(
            state=state,
            progress=progress,
            queue_position=position,
            download_url=text("download_url", "downloadUrl"),
            expires_at=text("expires_at", "expiresAt"),
            error=text("error", "error_reason", "errorReason"),
            request_id=text("request_id", "requestId"),
            raw=data,
        )


def parse_status(text: str) -> RemoteStatus:
    """The JSON a status source printed; the last JSON line wins if the whole text is not JSON."""
    text = text.strip()
    if not text:
        raise PollError("status source printed nothing")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
        for line in reversed(text.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    data = json.loads(line)
                    break
                except ValueError:
                    continue
        if data is None:
            short = text.splitlines()[-1][:120]
            raise PollError(f"status is not JSON: {short}") from None
    return RemoteStatus.from_data(data)


def expires_in_text(expires_at: str | None, now: float | None = None) -> str | None:
    """'expires in 4m 10s' / 'expired' (never a negative countdown); None if unknown."""
    if not expires_at:
        return None
    try:
        when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    left = int(when.timestamp() - (time.time() if now is None else now))
    if left <= 0:
        return "expired"
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"expires in {days}d {hours}h"
    if hours:
        return f"expires in {hours}h {minutes}m"
    if minutes:
        return f"expires in {minutes}m {seconds}s"
    return f"expires in {seconds}s"


# ---------------------------------------------------------------- fetching
def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or url


def _url_error(exc: BaseException, url: str, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} from {_host(url)}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g} s ({_host(url)})"
    if isinstance(reason, ConnectionRefusedError):
        return f"connection refused by {_host(url)}"
    if isinstance(reason, ConnectionResetError):
        return f"connection reset by {_host(url)}"
    return f"cannot reach {_host(url)}: {getattr(reason, 'strerror', None) or reason}"


def url_fetcher(url: str, timeout: float = POLL_TIMEOUT) -> Callable[[], RemoteStatus]:
    """GET the status URL (proxies from the environment) and parse its JSON."""

    def fetch() -> RemoteStatus:
        request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": USER_AGENT})
        try:
            with urllib.request.build_opener().open(request, timeout=timeout) as resp:
                body = resp.read(MAX_BODY + 1)
        except Exception as exc:  # noqa: BLE001 - every failure is one failed poll
            raise PollError(_url_error(exc, url, timeout)) from None
        if len(body) > MAX_BODY:
            raise PollError("status answer is over 1 MB")
        return parse_status(body.decode("utf-8", errors="replace"))

    return fetch


def run_sh(command: str, *, cwd: str | None = None, env: dict | None = None, timeout: float = POLL_TIMEOUT, what: str = "command") -> str:
    """Run `sh -c command` in its own process group; stdout, or PollError."""
    child_env = dict(os.environ)
    if env:
        child_env.update(env)
    try:
        proc = subprocess.Popen(
            ["sh", "-c", command], cwd=cwd or None, env=child_env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
    except OSError as exc:
        raise PollError(f"{what} could not start: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        processes.kill_group(proc.pid)
        proc.communicate()
        raise PollError(f"{what} timed out after {timeout:g} s") from None
    if proc.returncode != 0:
        tail = err.decode("utf-8", errors="replace").strip().splitlines()[-1:] or [""]
        code = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
        raise PollError(f"{what} {code}" + (f": {tail[0][:200]}" if tail[0] else ""))
    return out.decode("utf-8", errors="replace")


def command_fetcher(command: str, *, cwd: str | None = None, env: dict | None = None, timeout: float = POLL_TIMEOUT) -> Callable[[], RemoteStatus]:
    """Run the status command with `sh -c` and parse its stdout."""

    def fetch() -> RemoteStatus:
        return parse_status(run_sh(command, cwd=cwd, env=env, timeout=timeout, what="status command"))

    return fetch


def send_cancel(payload: dict, env: dict | None = None, timeout: float = POLL_TIMEOUT) -> str:
    """Call the cancel command or URL; answers what happened, raises PollError on failure."""
    if payload.get("cancel_command"):
        run_sh(payload["cancel_command"], cwd=payload.get("cwd"), env=env, timeout=timeout, what="cancel command")
        return "cancel command ran"
    url = payload["cancel_url"]
    request = urllib.request.Request(url, data=b"", method="POST", headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.build_opener().open(request, timeout=timeout) as resp:
            resp.read(MAX_BODY)
            return f"cancel sent: HTTP {resp.status}"
    except Exception as exc:  # noqa: BLE001
        raise PollError(_url_error(exc, url, timeout)) from None


# ---------------------------------------------------------------- the poll gate
class PollGate:
    """At most `limit` polls in flight across every tracker in the process, any event loop.

    `align(t)` rounds a due time up to the tick grid, so trackers on the same
    cadence wake in the same tick and go through the gate as one batch.
    """

    def __init__(self, limit: int = MAX_IN_FLIGHT, tick: float = GATE_TICK):
        self.limit = limit
        self.tick = tick
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiters: deque = deque()
        self.peak = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def align(self, t: float) -> float:
        if self.tick <= 0:
            return t
        return math.ceil(t / self.tick - 1e-9) * self.tick

    def _take(self) -> None:
        self._in_flight += 1
        self.peak = max(self.peak, self._in_flight)

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._in_flight < self.limit and not self._waiters:
                self._take()
                return
            fut = loop.create_future()
            entry = (loop, fut)
            self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            with self._lock:
                try:
                    self._waiters.remove(entry)
                    granted = False
                except ValueError:
                    granted = True
            if granted and fut.done() and not fut.cancelled():
                self.release()  # handed a slot just as we gave up: pass it on
            raise

    def release(self) -> None:
        with self._lock:
            if not self._waiters:
                self._in_flight -= 1
                return
            loop, fut = self._waiters.popleft()  # the slot passes straight to the next in line
        try:
            loop.call_soon_threadsafe(self._grant, fut)
        except RuntimeError:  # that loop is closed
            self.release()

    def _grant(self, fut: asyncio.Future) -> None:
        if fut.done():
            self.release()
        else:
            fut.set_result(None)

    @asynccontextmanager
    async def slot(self):
        await self.acquire()
        try:
            yield
        finally:
            self.release()


GATE = PollGate()


# ---------------------------------------------------------------- the poll loop
def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))


class PollListener:
    """What a Poller tells its owner; every method is optional."""

    def on_transition(self, previous: str | None, status: RemoteStatus) -> None: ...
    def on_status(self, status: RemoteStatus) -> None: ...
    def on_poll_error(self, error: str, consecutive: int) -> None: ...
    def on_banner(self, shown: bool, error: str | None) -> None: ...


class Poller:
    """Polls `fetch()` until a terminal state; returns that RemoteStatus.

    `fetch` is a plain function (run in a thread) or a coroutine function.
    `clock()` and `await sleep(seconds)` are injectable so a test can run the
    cadence under a fake clock; `gate` limits polls in flight. Thread-safe
    controls: `poke()` (poll now), `stop(reason)` (run raises PollStopped),
    `note_cancel()` (a cancel is on its way: poll at the base cadence),
    `cancel_sent()` (poll at once; give up with CancelNotConfirmed if the
    source still says queued/running `cancel_confirm_s` later).
    """

    def __init__(
        self,
        fetch: Callable[[], Any],
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
        gate: PollGate | None = None,
        listener: PollListener | None = None,
        cancel_confirm_s: float = CANCEL_CONFIRM_S,
    ):
        self.fetch = fetch
        self.interval = max(MIN_INTERVAL, float(interval))
        self.clock = clock
        self._sleep = sleep
        self.gate = gate if gate is not None else GATE
        self.listener = listener or PollListener()
        self.cancel_confirm_s = cancel_confirm_s
        self.polls = 0
        self.poll_times: deque[float] = deque(maxlen=4096)
        self.failures = 0  # consecutive
        self.banner = False
        self.state: str | None = None
        self.last: RemoteStatus | None = None
        self.transitions: list[tuple[str | None, str]] = []
        self._backoff_step = 0
        self._started: float | None = None
        self._due = 0.0
        self._poked = False
        self._stop_reason: str | None = None
        self._cancel_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None

    # controls (any thread) ------------------------------------------------
    def poke(self) -> None:
        self._poked = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass

    def stop(self, reason: str = "cancel") -> None:
        self._stop_reason = reason
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass

    def note_cancel(self) -> None:
        """A cancel is on its way: poll at the base cadence from now on."""
        if self._cancel_at is None:
            self._cancel_at = self.clock()

    def cancel_sent(self) -> None:
        """The cancel went out: poll at once; the confirmation window starts now."""
        self._cancel_at = self.clock()
        self.poke()

    @property
    def cancelling(self) -> bool:
        return self._cancel_at is not None

    # cadence --------------------------------------------------------------
    def next_delay(self, at: float) -> float:
        """Seconds from the poll made at `at` to the next one."""
        if self._cancel_at is not None:
            return self.interval
        if self.failures >= FAILURES_FOR_BANNER:
            return max(self.interval, FAILURE_INTERVAL)
        if self._started is None or at - self._started < BACKOFF_AFTER_S:
            return self.interval
        step = BACKOFF_STEPS[min(self._backoff_step, len(BACKOFF_STEPS) - 1)]
        self._backoff_step += 1
        return max(self.interval, step)

    # the loop -------------------------------------------------------------
    async def run(self) -> RemoteStatus:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._wake = asyncio.Event()
        try:
            return await self._run()
        except asyncio.CancelledError:
            if self._stop_reason is not None:
                if self._task is not None:
                    self._task.uncancel()
                raise PollStopped(self._stop_reason) from None
            raise

    def _check_stop(self) -> None:
        if self._stop_reason is not None:
            raise PollStopped(self._stop_reason)

    async def _run(self) -> RemoteStatus:
        self._started = self._due = self.clock()
        while True:
            self._check_stop()
            await self._sleep_until(self._due)
            self._check_stop()
            status = await self._poll()
            if status is not None and status.terminal:
                return status
            self._check_stop()
            if self._cancel_at is not None and self.clock() - self._cancel_at >= self.cancel_confirm_s:
                raise CancelNotConfirmed(f"the source still says {self.state} {self.cancel_confirm_s:g} s after the cancel")
            made_at = self._due
            self._due = self.gate.align(made_at + self.next_delay(made_at))

    async def _sleep_until(self, due: float) -> None:
        while True:
            if self._poked:
                self._poked = False
                self._due = self.clock()
                return
            left = due - self.clock()
            if left <= 0:
                return
            if self._sleep is not None:
                await self._sleep(left)
            else:
                assert self._wake is not None
                try:
                    await asyncio.wait_for(self._wake.wait(), left)
                except TimeoutError:
                    pass
                self._wake.clear()

    async def _fetch(self) -> Any:
        if _is_async(self.fetch):
            async with self.gate.slot():
                return await self.fetch()
        await self.gate.acquire()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self.fetch)
        handed_off = False
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.done():
                # the request is still out: it keeps its slot until it ends
                def settle(f):
                    if not f.cancelled():
                        f.exception()
                    self.gate.release()

                future.add_done_callback(settle)
                handed_off = True
            raise
        finally:
            if not handed_off:
                self.gate.release()

    async def _poll(self) -> RemoteStatus | None:
        self.polls += 1
        self.poll_times.append(self.clock())
        try:
            result = await self._fetch()
            status = result if isinstance(result, RemoteStatus) else RemoteStatus.from_data(result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is a failed poll
            message = str(exc) if isinstance(exc, PollError) else (f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__)
            self.failures += 1
            self.listener.on_poll_error(message, self.failures)
            if self.failures == FAILURES_FOR_BANNER:
                self.banner = True
                self.listener.on_banner(True, message)
            return None
        self.failures = 0
        if self.banner:
            self.banner = False
            self.listener.on_banner(False, None)
        previous, self.state, self.last = self.state, status.state, status
        if previous != status.state:
            self.transitions.append((previous, status.state))
            self.listener.on_transition(previous, status)
        self.listener.on_status(status)
        return status


# ---------------------------------------------------------------- the task glue
class TaskBridge(PollListener):
    """Maps what the poller sees onto a task: meta, progress, log lines, outcome."""

    def __init__(self, ctx, payload: dict, clock: Callable[[], float] = time.monotonic):
        self.ctx = ctx
        self.payload = payload
        self.clock = clock
        self.source = payload.get("url") or payload.get("command")
        # what the record already holds (a retried task keeps its old meta)
        self.meta: dict = dict(getattr(ctx.task, "meta", None) or {})
        self._stale = [k for k in STALE_KEYS if self.meta.get(k) not in (None, False, 0, "")]
        self._shown: tuple | None = None
        self._queued_since: float | None = None
        self._notices: set[str] = set()
        self.cancel_asked = False
        self.poller: Poller | None = None

    # meta / progress helpers --------------------------------------------
    def _meta(self, **values) -> None:
        changed = {k: v for k, v in values.items() if self.meta.get(k, object()) != v}
        if changed:
            self.meta.update(changed)
            self.ctx.update_meta(**changed)

    def _show(self, value: float | None, label: str) -> None:
        if (value, label) != self._shown:
            self._shown = (value, label)
            self.ctx.progress(value, label)

    def _refresh(self, status: RemoteStatus | None = None) -> None:
        status = status or (self.poller.last if self.poller else None)
        if status is None:
            return
        value: float | None = None
        if status.state == "queued":
            label = "queued" + (f" · position {status.queue_position}" if status.queue_position is not None else "")
            notice = self.meta.get("queue_notice")
            if notice:
                label += f" · {notice}"
        elif status.state == "running":
            value = status.progress
            label = "running"
            if value is not None and value >= 100:
                value, label = 99.0, "finalizing"
        else:
            return
        if self.poller is not None and self.poller.banner:
            label = BANNER
        elif self.cancel_asked:
            label = "cancelling…"
        self._show(value, label)

    # listener ------------------------------------------------------------
    def on_transition(self, previous: str | None, status: RemoteStatus) -> None:
        values: dict[str, Any] = {k: None for k in self._stale}  # left from an earlier run
        self._stale = []
        values.update({
            "remote_state": status.state,
            "queue_position": status.queue_position,
            "source": self.source,
        })
        if status.request_id is not None:
            values["request_id"] = status.request_id  # sticky: a later answer may leave it out
        for name in ("expires_at", "download_url"):
            value = getattr(status, name)
            if value is not None or name in self.meta:
                values[name] = value
        if status.state != "queued" and self.meta.get("queue_notice"):
            values["queue_notice"] = None
        if status.state == "failed":
            values["remote_error"] = status.error
        if status.state == "ready":
            if not status.download_url:
                values.update(artifact_unavailable=True, retry_offered=True)
            if self.cancel_asked:
                values["cancel_too_late"] = True
        self.meta.update(values)
        self.ctx.update_meta(**values)  # one event per transition
        arrow = f"{previous} → {status.state}" if previous else status.state
        extra = []
        if status.queue_position is not None and status.state == "queued":
            extra.append(f"position {status.queue_position}")
        if status.request_id:
            extra.append(f"request id {status.request_id}")
        if status.error and status.state in ("failed", "expired", "cancelled"):
            extra.append(status.error)
        self.ctx.log(f"remote state: {arrow}" + (f" ({'; '.join(extra)})" if extra else ""))
        if status.state == "queued":
            self._queued_since = self.clock()
        if status.state == "ready" and self.cancel_asked:
            self.ctx.log("cancel arrived too late — the result is ready")

    def on_status(self, status: RemoteStatus) -> None:
        if status.terminal:
            return
        # the same state again: only values that changed reach the record
        values = {"queue_position": status.queue_position}
        for name in ("request_id", "expires_at"):
            if getattr(status, name) is not None:
                values[name] = getattr(status, name)
        if status.state == "queued" and self._queued_since is not None:
            waited = self.clock() - self._queued_since
            where = f"position {status.queue_position}" if status.queue_position is not None else "position unknown"
            if waited >= QUEUED_STUCK_S and "stuck" not in self._notices:
                self._notices.add("stuck")
                rid = status.request_id or self.meta.get("request_id")
                values["queue_notice"] = "stuck in queue" + (f" — contact support with request id {rid}" if rid else "")
                self.ctx.log(f"still queued after {waited:.0f} s ({where})")
            elif waited >= QUEUED_NOTICE_S and "slow" not in self._notices:
                self._notices.add("slow")
                values["queue_notice"] = f"taking longer than expected — {where}"
                self.ctx.log(f"still queued after {waited:.0f} s ({where})")
        self._meta(**values)
        self._refresh(status)

    def on_poll_error(self, error: str, consecutive: int) -> None:
        self.ctx.log(f"poll failed ({consecutive} in a row): {error}")

    def on_banner(self, shown: bool, error: str | None) -> None:
        if shown:
            self._meta(poll_error=BANNER, banner=BANNER, poll_failures=FAILURES_FOR_BANNER, last_poll_error=error)
            self.ctx.log(BANNER)
            value = self._shown[0] if self._shown else None
            self._show(value, BANNER)
        else:
            self._meta(poll_error=None, banner=None, poll_failures=0)
            self.ctx.log("status refreshed again")
            self._shown = None

    # outcome -------------------------------------------------------------
    def outcome(self, status: RemoteStatus) -> dict:
        rid = status.request_id or self.meta.get("request_id")
        ref = f" (request id {rid})" if rid else ""
        if status.state == "ready":
            result: dict[str, Any] = {
                "remote_state": "ready",
                "download_url": status.download_url,
                "expires_at": status.expires_at,
                "request_id": rid,
                "source": self.source,
            }
            if "result" in status.raw:  # what the remote job produced (a served lazyqueue task's result)
                result["result"] = status.raw["result"]
            if not status.download_url:
                result["artifact_unavailable"] = True
            if self.cancel_asked:
                result["cancel_too_late"] = True
            return result
        if status.state == "failed":
            raise FatalError(f"remote job failed: {status.error or 'no reason given'}{ref}")
        if status.state == "expired":
            why = f": {status.error}" if status.error else ""
            raise FatalError(f"expired remotely{why}{ref}")
        raise Cancelled("cancelled remotely")


def _command_env(ctx, bridge: TaskBridge) -> dict:
    env = {"LAZYQUEUE_TASK_ID": str(ctx.task.id)}
    rid = bridge.meta.get("request_id")
    if rid:
        env["LAZYQUEUE_REQUEST_ID"] = str(rid)
    return env


def make_fetcher(payload: dict, env: Callable[[], dict] | None = None) -> Callable[[], RemoteStatus]:
    timeout = float(payload.get("poll_timeout") or POLL_TIMEOUT)
    if payload.get("url"):
        return url_fetcher(payload["url"], timeout)

    def fetch() -> RemoteStatus:
        return command_fetcher(payload["command"], cwd=payload.get("cwd"), env=env() if env else None, timeout=timeout)()

    return fetch


async def _track(ctx):
    payload = ctx.payload
    bridge = TaskBridge(ctx, payload)
    poller = Poller(
        make_fetcher(payload, lambda: _command_env(ctx, bridge)),
        interval=float(payload.get("interval") or DEFAULT_INTERVAL),
        listener=bridge,
    )
    bridge.poller = poller
    has_endpoint = bool(payload.get("cancel_command") or payload.get("cancel_url"))
    ctx.log(f"── attempt {ctx.attempt} · tracking {bridge.source} every {poller.interval:g} s")

    def on_cancel() -> None:  # runs on whichever thread asked; never blocks it
        reason = ctx.cancel_reason or "cancel"
        if reason != "cancel":
            poller.stop(reason)  # shutdown / timeout: stop watching, leave the remote job alone
            return
        bridge.cancel_asked = True
        if not has_endpoint:
            ctx.log("cancelled here; the source has no cancel endpoint, so the remote job is left alone")
            bridge._meta(cancel="no cancel endpoint")
            poller.stop("cancel")
            return

        poller.note_cancel()
        bridge._refresh()  # "cancelling…"

        def send() -> None:
            try:
                what = send_cancel(payload, env=_command_env(ctx, bridge), timeout=float(payload.get("poll_timeout") or POLL_TIMEOUT))
            except PollError as exc:
                ctx.log(f"cancel failed: {exc}")
                bridge._meta(cancel=f"failed: {exc}")
            else:
                ctx.log(what)
                bridge._meta(cancel="sent")
            bridge._refresh()
            poller.cancel_sent()  # …and poll again at once to confirm

        threading.Thread(target=send, name=f"lq-track-cancel-{ctx.task.id}", daemon=True).start()

    ctx.on_cancel(on_cancel)
    inner = asyncio.ensure_future(poller.run())
    while True:
        try:
            status = await asyncio.shield(inner)
            break
        except asyncio.CancelledError:
            # the worker cancels the coroutine on a cancel request; the poll loop
            # decides how this ends (see on_cancel), so keep waiting for it
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            if inner.done() and inner.cancelled():
                raise Cancelled(ctx.cancel_reason or "cancel") from None
        except PollStopped as exc:
            raise Cancelled(exc.reason) from None
        except CancelNotConfirmed as exc:
            ctx.log(f"stopped tracking: {exc}")
            raise Cancelled("cancel") from None
    return bridge.outcome(status)


# ---------------------------------------------------------------- payload
def _validate(payload: dict) -> dict:
    out = dict(payload)
    command = out.get("command")
    url = out.get("url")
    command = command.strip() if isinstance(command, str) else command
    url = url.strip() if isinstance(url, str) else url
    if bool(command) == bool(url):
        raise ValueError("give one status source: command='CMD' (its stdout is JSON) or url=URL")
    if url:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"url must be an http:// or https:// address (got {url!r})")
        out["url"] = url
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
        parts = urllib.parse.urlsplit(str(cancel_url))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"cancel_url must be an http:// or https:// address (got {cancel_url!r})")
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
    handler=_track,
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
    "command_fetcher", "send_cancel", "BANNER",
]
