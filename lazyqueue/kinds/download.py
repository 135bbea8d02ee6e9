"""The built-in `download` kind: a URL to a file, standard library only.

    lazyqueue add download url=https://example.com/big.iso [dest=~/Downloads/]

- `dest` is a directory (the file name then comes from Content-Disposition,
  else the last part of the final URL, else "download") or a file path.
  Relative paths, and the default, are taken from the directory the task was
  added from (the payload's `cwd`, else the enqueuing process's current
  directory, recorded when the task is queued). A trailing "/" or an existing
  directory means "a directory".
- The body streams to a hidden temporary file in the destination folder
  (`.NAME.tID-QUEUE.XXXX.lqpart`) and is renamed into place only once
  complete; a cancelled or failed download removes it, so no partial file ever
  sits under the final name. One left by a worker that died is removed when
  the task runs again. Into a directory, an existing file is never replaced: the
  name gets " (1)", " (2)"…; an explicit file path is replaced atomically.
- Progress comes from Content-Length ("12.3 MB of 40.0 MB · 3.1 MB/s"); without
  one it is indeterminate (`progress None`, "12.3 MB · 3.1 MB/s").
- Dedupe key `download:<url>`; max 3 attempts with exponential back-off.
- Errors: HTTP 4xx is fatal (not retried) except 408 and 429, which are
  transient; HTTP 5xx, a reset or refused connection, a dropped body and a
  timeout (`socket_timeout`, default 30 s, per connect/read) are retryable.
- Proxies come from the environment (http_proxy, https_proxy, no_proxy), read
  afresh for each download (urllib's default opener would keep the first ones).

Payload: url (required), dest, cwd, socket_timeout.
Result: {"path", "bytes", "sha256", "url", "final_url", "content_type"}.
Meta while running: {"url", "path" (where the file will land), "total_bytes"}.
"""

from __future__ import annotations

import email.message
import hashlib
import http.client
import os
import socket
import tempfile
import threading
import time
import unicodedata
import urllib.parse
import urllib.request
from collections import deque
from pathlib import Path

from ..core.errors import Cancelled, FatalError, RetryableError, UserInputError
from ..core.registry import Backoff, Field, Kind
from .web import USER_AGENT, WEB_SCHEMES, check_web_url, classify, host

CHUNK = 64 * 1024
DEFAULT_SOCKET_TIMEOUT = 30.0
PROGRESS_EVERY_S = 0.1
RATE_WINDOW_S = 3.0
PART_SUFFIX = ".lqpart"


# ---------------------------------------------------------------- text helpers
def human_bytes(n: float) -> str:
    """Decimal units, one decimal: 512 B, 12.3 kB, 40.0 MB."""
    if n < 1000:
        return f"{int(n)} B"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000.0
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"
    return f"{n:.1f} TB"  # pragma: no cover


def progress_label(done: int, total: int | None, rate: float | None) -> str:
    text = f"{human_bytes(done)} of {human_bytes(total)}" if total else human_bytes(done)
    if rate is not None:
        text += f" · {human_bytes(rate)}/s"
    return text


class RateMeter:
    """Bytes per second over the last few seconds."""

    def __init__(self, window: float = RATE_WINDOW_S, clock=time.monotonic):
        self.window = window
        self.clock = clock
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, total: int) -> float | None:
        now = self.clock()
        self.samples.append((now, total))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window:
            self.samples.popleft()
        t0, b0 = self.samples[0]
        if now - t0 <= 0:
            return None
        return (total - b0) / (now - t0)


def filename_from(headers, url: str) -> str:
    """The name a server suggests (Content-Disposition), else the URL's last path part."""
    name = None
    disposition = headers.get("Content-Disposition") if headers is not None else None
    if disposition:
        msg = email.message.Message()
        msg["Content-Disposition"] = disposition
        name = msg.get_filename()  # handles filename*=UTF-8''… too
    if not name:
        path = urllib.parse.urlsplit(url).path
        name = urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1]) if path else ""
    return safe_name(name)


NAME_MAX_BYTES = 200  # under every file system's 255-byte limit, with room for " (12)" and the temp file's tag


def safe_name(name: str | None) -> str:
    """A file name a server or URL suggests, made safe to create and to show.

    Only the last path part; no control characters, no format characters
    (bidi overrides such as U+202E turn `exe.pdf` into what reads `fdp.exe`);
    no leading dots; at most NAME_MAX_BYTES bytes of UTF-8, the extension kept.
    """
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f" and unicodedata.category(ch) not in ("Cc", "Cf"))
    name = name.strip().lstrip(".").strip()
    if len(name.encode("utf-8")) > NAME_MAX_BYTES:
        stem, dot, ext = name.rpartition(".")
        if not dot or len(ext.encode("utf-8")) > 16:
            stem, ext = name, ""
        room = NAME_MAX_BYTES - len(ext.encode("utf-8")) - (1 if ext else 0)
        stem = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip()
        name = f"{stem}.{ext}" if ext else stem
    return name or "download"


def _unique(folder: Path, name: str) -> Path:
    candidate = folder / name
    if not candidate.exists():
        return candidate
    stem, dot, ext = name.partition(".") if not name.startswith(".") else (name, "", "")
    for n in range(1, 10000):
        candidate = folder / (f"{stem} ({n}){dot}{ext}")
        if not candidate.exists():
            return candidate
    raise FatalError(f"no free file name for {name} in {folder}")


# ---------------------------------------------------------------- payload
def _validate(payload: dict) -> dict:
    out = dict(payload)
    out["url"] = check_web_url(str(out.get("url") or "").strip())
    base = out.get("cwd") or os.getcwd()
    out["cwd"] = str(base)
    dest = out.get("dest")
    if dest in (None, ""):
        out["dest"] = str(Path(base)) + os.sep
    else:
        dest = os.path.expanduser(str(dest))
        full = os.path.normpath(os.path.join(base, dest))
        # a folder: ends in /, is one, or (missing) has no extension, like ~/Downloads; created when saving
        last = os.path.basename(full)
        folder = dest.endswith(("/", os.sep)) or os.path.isdir(full) or (not os.path.lexists(full) and "." not in last)
        out["dest"] = full + (os.sep if folder and not full.endswith(os.sep) else "")
    timeout = out.get("socket_timeout")
    if timeout not in (None, ""):
        try:
            value = float(timeout)
        except (TypeError, ValueError):
            raise ValueError(f"socket_timeout must be a number of seconds (got {timeout!r})") from None
        if value <= 0:
            raise ValueError("socket_timeout must be more than 0 seconds")
        out["socket_timeout"] = value
    return out


def _label(payload: dict) -> str:
    return f"download {payload.get('url', '')}"


def _dedupe(payload: dict) -> str | None:
    url = payload.get("url")
    return f"download:{url}" if url else None


# ---------------------------------------------------------------- the transfer
class _WebRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to http:// or https:// (urllib would follow ftp:// too)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl)).scheme.lower()
        if scheme not in WEB_SCHEMES:
            raise FatalError(f"{host(req.full_url)} redirected to a {scheme}:// address; only http and https are followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open(ctx, request: urllib.request.Request, timeout: float):
    """urlopen in a helper thread so a cancel does not wait out a slow connect."""
    box: dict = {}
    lock = threading.Lock()
    wake = threading.Event()

    def run() -> None:
        try:
            # a fresh opener reads the proxy variables as they are now
            resp = urllib.request.build_opener(_WebRedirectsOnly).open(request, timeout=timeout)
        except BaseException as exc:  # noqa: BLE001 - handed to the handler
            resp, error = None, exc
        else:
            error = None
        with lock:
            if box.get("abandoned"):
                if resp is not None:
                    resp.close()
                return
            box["resp"], box["error"] = resp, error
        wake.set()

    ctx.on_cancel(wake.set)
    threading.Thread(target=run, name="lq-download-open", daemon=True).start()
    wake.wait()
    with lock:
        if "resp" not in box and "error" not in box:
            box["abandoned"] = True
            raise Cancelled(ctx.cancel_reason or "cancel")
    if box["error"] is not None:
        raise box["error"]
    return box["resp"]


def _interrupt(resp) -> None:
    """Unblock a read in progress (from another thread) by shutting the socket down."""
    sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        else:
            resp.close()
    except OSError:
        pass


def _part_tag(ctx) -> str:
    """Names this task's temporary files: its id and its queue (task ids are per queue)."""
    queue = hashlib.sha256(str(Path(ctx.log_path).parent).encode()).hexdigest()[:6]
    return f"t{ctx.task.id}-{queue}"


def _umask() -> int:
    """The process umask, read without changing it (os.umask would race other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _target(dest: str, headers, final_url: str) -> tuple[Path, bool]:
    """(final path, replace allowed)."""
    path = Path(dest)
    if dest.endswith(("/", os.sep)) or path.is_dir():
        return _unique(path, filename_from(headers, final_url)), False
    return path, True


def _download(ctx):
    p = ctx.payload
    url = p["url"]
    timeout = float(p.get("socket_timeout") or DEFAULT_SOCKET_TIMEOUT)
    dest = p.get("dest") or (str(p.get("cwd") or os.getcwd()) + os.sep)
    ctx.log(f"── attempt {ctx.attempt} · GET {url}")
    ctx.progress(None, "connecting")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    try:
        resp = _open(ctx, request, timeout)
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below
        ctx.check_cancelled()  # a cancel, not a network failure: never retried
        raise classify(exc, url, timeout) from None
    tmp_path = None
    try:
        final_url = resp.geturl() or url
        if final_url != url:
            ctx.log(f"redirected to {final_url}")
        total = resp.headers.get("Content-Length")
        try:
            total = int(total) if total is not None else None
        except ValueError:
            total = None
        target, may_replace = _target(dest, resp.headers, final_url)
        folder = target.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserInputError(f"cannot create {folder}: {exc.strerror or exc}") from None
        if target.is_dir():
            raise UserInputError(f"{target} is a directory")
        ctx.update_meta(url=url, path=str(target), total_bytes=total)
        ctx.log(f"saving to {target}" + (f" ({human_bytes(total)})" if total else " (size unknown)"))
        tag = _part_tag(ctx)
        for stale in folder.glob(f".*.{tag}.*{PART_SUFFIX}"):  # left by this task's run in a worker that died
            try:
                stale.unlink()
                ctx.log(f"removed {stale.name} (left by an interrupted attempt)")
            except OSError:
                pass
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name[:80]}.{tag}.", suffix=PART_SUFFIX, dir=folder)
        except OSError as exc:
            raise UserInputError(f"cannot write in {folder}: {exc.strerror or exc}") from None
        tmp_path = Path(tmp_name)
        ctx.on_cancel(lambda: _interrupt(resp))
        digest = hashlib.sha256()
        done = 0
        meter = RateMeter()
        next_report = 0.0
        with os.fdopen(fd, "wb") as out:
            while True:
                ctx.check_cancelled()
                try:
                    chunk = resp.read(CHUNK)
                except Exception as exc:  # noqa: BLE001
                    ctx.check_cancelled()
                    if isinstance(exc, http.client.IncompleteRead):
                        raise RetryableError(f"connection to {host(final_url)} closed after {human_bytes(done + len(exc.partial))}"
                                             + (f" of {human_bytes(total)}" if total else "")) from None
                    raise classify(exc, final_url, timeout) from None
                if not chunk:
                    break
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise FatalError(f"cannot write {target}: {exc.strerror or exc}") from None
                digest.update(chunk)
                done += len(chunk)
                now = time.monotonic()
                if now >= next_report:
                    rate = meter.add(done)
                    ctx.progress(min(99.9, done * 100.0 / total) if total else None, progress_label(done, total, rate))
                    next_report = now + PROGRESS_EVERY_S
            ctx.check_cancelled()
            if total is not None and done < total:
                raise RetryableError(f"connection to {host(final_url)} closed after {human_bytes(done)} of {human_bytes(total)}")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp made it 0600; give it a normal file's mode
        if not may_replace and target.exists():  # someone took the name meanwhile
            target = _unique(folder, target.name)
        os.replace(tmp_path, target)
        tmp_path = None
        try:
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass
        ctx.progress(100.0, progress_label(done, total or done, None))
        ctx.log(f"saved {target} ({human_bytes(done)}, sha256 {digest.hexdigest()})")
        return {
            "path": str(target),
            "bytes": done,
            "sha256": digest.hexdigest(),
            "url": url,
            "final_url": final_url,
            "content_type": resp.headers.get("Content-Type"),
        }
    finally:
        try:
            resp.close()
        except Exception:  # noqa: BLE001
            pass
        if tmp_path is not None:
            try:
                tmp_path.unlink()
            except OSError:
                pass


DOWNLOAD = Kind(
    name="download",
    handler=_download,
    validate=_validate,
    fields=(
        Field("url", help="http(s) address to fetch"),
        Field("dest", required=False, help="directory or file path (default: the current directory)"),
    ),
    max_attempts=3,
    backoff=Backoff(base=5.0, factor=3.0, max=120.0),
    dedupe=_dedupe,
    label=_label,
    description="fetch a URL to a file (temp file + rename; progress from Content-Length)",
    source="built-in",
)

__all__ = ["DOWNLOAD", "classify", "filename_from", "human_bytes", "progress_label"]
