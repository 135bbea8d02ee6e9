"""The `ls` table as plain text: widths from the cells, the label cut, INFO folded, colour only on a terminal."""

from __future__ import annotations

import re

from lazyqueue.ls_table import cell_width, render

HEAD = ["ID", "STATUS", "LABEL", "INFO"]


def test_columns_are_as_wide_as_their_widest_cell_two_spaces_apart_and_no_line_ends_in_spaces():
    lines = render(HEAD, [["t1", "○ queued", "echo hi", ""], ["t22", "● running", "x", "50%"]], label=2)
    assert lines == ["ID   STATUS     LABEL    INFO",
                     "t1   ○ queued   echo hi",
                     "t22  ● running  x        50%"]


def test_a_long_label_is_cut_at_48_columns_and_wide_characters_count_twice():
    label = "編集" * 40
    line = render(HEAD, [["t1", "x", label, "next up"]], label=2)[1]
    shown = re.split(r"\s{2,}", line)[2]
    assert shown.endswith("…") and cell_width(shown) <= 48
    assert line.endswith("next up")


def test_a_row_too_wide_for_the_terminal_cuts_the_label_then_folds_info_under_its_column():
    info = "dependency t10 did not complete (attempt 1/3) " * 3
    lines = render(HEAD, [["t1", "✗ failed", "a" * 40, info.strip()]], width=60, label=2)
    assert all(cell_width(line) <= 60 for line in lines)
    at = lines[0].index("INFO")
    assert len(lines) > 2 and all(line[:at].strip() == "" for line in lines[2:])
    assert " ".join(line[at:] for line in lines[1:]) == info.strip()  # broken at spaces, nothing lost
    word = render(HEAD, [["t1", "x", "y", "z" * 50]], width=30, label=2)
    assert all(cell_width(line) <= 30 for line in word) and "".join(line.split()[-1] for line in word[1:]) == "z" * 50
    piped = render(HEAD, [["t1", "✗ failed", "a" * 40, info.strip()]], width=None, label=2)
    assert len(piped) == 2 and piped[1].endswith(info.strip())  # a pipe gets whole lines


def test_colour_only_when_asked_and_the_plain_text_lines_up_the_same():
    styles = {1: {"○ queued": "cyan"}}
    rows = [["t1", "○ queued", "echo", "next up"]]
    plain = render(HEAD, rows, styles, label=2)
    coloured = render(HEAD, rows, styles, label=2, colour=True)
    assert "\x1b[" not in "".join(plain)
    assert "\x1b[36m○ queued\x1b[0m" in coloured[1] and coloured[0].startswith("\x1b[1mID\x1b[0m")
    assert [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in coloured] == plain
