"""Text from tasks made safe to show on a terminal.

A label, a job title, a remote server's status or a command's error can
carry terminal controls: OSC (window title, OSC 52 clipboard writes),
CSI (clear screen, move the cursor), 8-bit C1 codes, or bidi overrides that
make text read in another order. Human output shows each such character as
a visible stand-in of the same length (so a styled span stays in place);
JSON output writes it as a `\\uXXXX` escape, the same value to a parser.
Tab and newline are kept.
"""

from __future__ import annotations

import re

# C0 but tab and newline, DEL, C1, the bidi embedding/override/isolate controls, and lone surrogates
# (text that is not Unicode: a non-UTF-8 byte of a command line; no terminal can be written them)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_KEEP_CR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _picture(match: re.Match) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # ␛ for ESC, ␇ for BEL…
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"  # C1 and bidi controls, lone surrogates: the replacement character


def shown(text: str, keep_cr: bool = False) -> str:
    """`text` with every terminal control replaced by a visible character (same length)."""
    pattern = _UNSAFE_KEEP_CR if keep_cr else _UNSAFE
    if pattern.search(text) is None:
        return text
    return pattern.sub(_picture, text)


def has_unsafe(text: str) -> bool:
    """True when `text` holds a character `shown()` would replace."""
    return _UNSAFE.search(text) is not None


def json_text(dumped: str) -> str:
    """JSON text with C1 and bidi controls and lone surrogates written as \\u escapes (json.dumps leaves them raw)."""
    if _UNSAFE.search(dumped) is None:
        return dumped
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


class SafeStream:
    """A text stream that writes what it is given through `shown()`.

    The CLI puts one over stdout and stderr for human output; `raw` is the
    stream underneath, for writers that emit their own styling (rich).
    """

    def __init__(self, raw, keep_cr: bool = False):
        self.raw = raw
        self.keep_cr = keep_cr

    def write(self, text: str) -> int:
        self.raw.write(shown(text, self.keep_cr))
        return len(text)

    def __getattr__(self, name):
        return getattr(self.raw, name)
