"""HTTP helpers shared by the network kinds (download, track): standard library only.

The user agent they send, the http(s)-only URL check, and one reading of what
urllib raised: a plain one-line message, and whether trying again may help.
Loaded only with those kinds, never by `lazyqueue add shell …`.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.error
import urllib.parse

from ..core.errors import FatalError, RetryableError

USER_AGENT = "lazyqueue"
WEB_SCHEMES = ("http", "https")
TRANSIENT_4XX = frozenset({408, 429})


def host(url: str) -> str:
    """The host a URL names (the URL itself if it names none), for messages."""
    return urllib.parse.urlsplit(url).hostname or url


def check_web_url(url: str, name: str = "url") -> str:
    """`url` if it is an http:// or https:// address with a host; else ValueError naming the field."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in WEB_SCHEMES or not parts.netloc:
        raise ValueError(f"{name} must be an http:// or https:// address (got {url!r})")
    return url


def describe(exc: BaseException, url: str, timeout: float) -> tuple[str, bool]:
    """What urllib raised for `url`, in words, and whether it is transient (worth another try).

    HTTP 4xx is lasting except 408 and 429; so is an untrusted TLS certificate.
    Everything else (5xx, timeouts, refused/reset connections, name lookups,
    a dropped body, other network errors) may pass.
    """
    where = host(url)
    if isinstance(exc, urllib.error.HTTPError):
        reason = f" ({exc.reason})" if exc.reason else ""
        return f"HTTP {exc.code} from {where}{reason}", not (400 <= exc.code < 500 and exc.code not in TRANSIENT_4XX)
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout:g} s ({where})", True
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate of {where} not trusted: {reason.verify_message or reason}", False
    if isinstance(reason, ConnectionResetError):
        return f"connection reset by {where}", True
    if isinstance(reason, ConnectionRefusedError):
        return f"connection refused by {where}", True
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve {where}", True
    if isinstance(reason, http.client.IncompleteRead):
        return f"connection to {where} closed early", True
    if isinstance(reason, (http.client.HTTPException, OSError)):
        text = getattr(reason, "strerror", None) or str(reason) or reason.__class__.__name__
        return f"network error from {where}: {text}", True
    if isinstance(exc, urllib.error.URLError):
        return f"cannot reach {where}: {reason}", True
    return f"{exc.__class__.__name__}: {exc}", True


def classify(exc: BaseException, url: str, timeout: float) -> Exception:
    """Turn what urllib raised into a RetryableError or a FatalError with a plain message."""
    if isinstance(exc, (FatalError, RetryableError)):
        return exc  # already said in words (a redirect refused)
    message, transient = describe(exc, url, timeout)
    return RetryableError(message) if transient else FatalError(message)


__all__ = ["USER_AGENT", "TRANSIENT_4XX", "host", "check_web_url", "describe", "classify"]
