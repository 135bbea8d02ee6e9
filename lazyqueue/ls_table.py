"""The table `lazyqueue ls` prints, laid out as plain text.

Columns are as wide as their widest cell, two spaces apart; the label is cut
at 48 columns with "…", and when a row does not fit the width the label gives
way first, then the last column (INFO) folds onto lines of its own under it.
Colour (a bold header, the status in its colour) only on a terminal, and
never with NO_COLOR or TERM=dumb.

Rich's Table did this before; importing and rendering it was ~100 ms of a
300 ms `ls` at 100,000 tasks (BENCHMARKS.md, "The line from the index"), and
`ls --all` of 100,000 rows took minutes. Cells come in already made safe
(controls shown as characters) by the caller.
"""

from __future__ import annotations

import functools
import os
import sys

LABEL_MAX = 48
GAP = "  "
STYLE_CODES = {"cyan": "36", "yellow": "33", "green": "32", "red": "31", "magenta": "35", "dim": "2", "bold": "1"}


def cell_width(text: str) -> int:
    """Terminal columns `text` takes (wide East Asian characters take two, combining marks none)."""
    if text.isascii():
        return len(text)
    return _wide_width(text)


@functools.lru_cache(maxsize=4096)  # statuses and waits repeat row after row
def _wide_width(text: str) -> int:
    import unicodedata

    return sum(1 if ch < "\u0300" else 0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def cut(text: str, width: int) -> str:
    """`text` in at most `width` columns, ending in "…" when cut."""
    if cell_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = cell_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def fold(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` columns, broken at spaces (a longer word is split)."""
    if cell_width(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        joined = f"{line} {word}" if line else word
        if cell_width(joined) <= width:
            line = joined
            continue
        if line:
            lines.append(line)
        while cell_width(word) > width:  # a word wider than the column: split it
            head = _head(word, width)
            lines.append(head)
            word = word[len(head):]
        line = word
    lines.append(line)
    return lines


def _head(word: str, width: int) -> str:
    used = 0
    for i, ch in enumerate(word):
        used += cell_width(ch)
        if used > width:
            return word[:max(i, 1)]
    return word


def colour_on(stream) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _styled(text: str, style: str, colour: bool) -> str:
    codes = ";".join(STYLE_CODES[s] for s in style.split() if s in STYLE_CODES)
    return f"\x1b[{codes}m{text}\x1b[0m" if colour and codes and text else text


def render(headers: list[str], rows: list[list[str]], styles: "dict[int, dict[str, str]] | None" = None,
           width: int | None = None, label: int | None = None, colour: bool = False) -> list[str]:
    """The table's lines, no trailing spaces. `styles`: column → cell text → style ("cyan");
    `label`: the column cut at LABEL_MAX and shrunk first; the last column folds."""
    styles = styles or {}
    if label is not None:
        rows = [[cut(c, LABEL_MAX) if i == label else c for i, c in enumerate(row)] for row in rows]
    widths = [cell_width(h) for h in headers]
    for row in rows:
        for i, c in enumerate(row):
            w = cell_width(c)
            if w > widths[i]:
                widths[i] = w
    last = len(headers) - 1
    if width is not None:
        over = sum(widths) + len(GAP) * last - width
        if over > 0 and label is not None:
            keep = max(cell_width(headers[label]), 8)
            give = min(over, max(0, widths[label] - keep))
            widths[label] -= give
            over -= give
            rows = [[cut(c, widths[label]) if i == label else c for i, c in enumerate(row)] for row in rows]
        if over > 0:
            widths[last] = max(cell_width(headers[last]), widths[last] - over, 10)
    lead = sum(widths[:last]) + len(GAP) * last
    out = [_line([_styled(h, "bold", colour) for h in headers], headers, widths)]
    for row in rows:
        pieces = fold(row[last], widths[last]) if width is not None else [row[last]]
        shown = [_styled(c, styles.get(i, {}).get(c, ""), colour) for i, c in enumerate(row[:last])]
        out.append(_line(shown + [pieces[0]], row[:last] + [pieces[0]], widths))
        out.extend((" " * lead + piece).rstrip() for piece in pieces[1:])
    return out


def _line(shown: list[str], plain: list[str], widths: list[int]) -> str:
    """Cells padded to their column by their plain text's width (the shown text may carry colour codes)."""
    parts = [s + " " * (w - cell_width(p)) for s, p, w in zip(shown, plain, widths)]
    return GAP.join(parts).rstrip()


def terminal_width(stream=None) -> int | None:
    """The terminal's width when writing to one; None (never fold) when piped."""
    stream = stream or sys.stdout
    try:
        if not stream.isatty():
            return None
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return None
