"""The task glue: what the poller sees, mapped onto a task (meta, progress, log, outcome)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable

from ...core.errors import Cancelled, FatalError
from .fetch import POLL_TIMEOUT, make_fetcher, send_cancel
from .poller import DEFAULT_INTERVAL, FAILURES_FOR_BANNER, CancelNotConfirmed, PollListener, Poller, PollStopped
from .status import PollError, RemoteStatus

BANNER = "couldn't refresh status — retrying every 30 s"
STALE_KEYS = ("artifact_unavailable", "cancel_too_late", "remote_error", "poll_error", "banner", "poll_failures",
              "last_poll_error", "queue_notice", "cancel")
QUEUED_NOTICE_S = 60.0
QUEUED_STUCK_S = 300.0


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


async def follow(ctx):
    """The track kind's handler: poll the source until a terminal state; the task's outcome."""
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


__all__ = ["BANNER", "TaskBridge", "follow"]
