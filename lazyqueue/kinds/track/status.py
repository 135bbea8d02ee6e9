"""The status protocol: the JSON a tracked source answers, read into a RemoteStatus.

See the package docstring for the fields; `parse_status` reads what a status
command printed or a status URL answered, `expires_in_text` words an expiry.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

STATES = ("queued", "running", "ready", "failed", "expired", "cancelled")
ACTIVE_STATES = frozenset({"queued", "running"})
TERMINAL_STATES = frozenset({"ready", "failed", "expired", "cancelled"})


class PollError(Exception):
    """One poll did not produce a usable status."""


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


__all__ = ["STATES", "ACTIVE_STATES", "TERMINAL_STATES", "PollError", "RemoteStatus", "parse_status", "expires_in_text"]
