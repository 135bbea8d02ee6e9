"""KeyedTable: a light, keyed table updated by diff — never cleared and rebuilt on a tick.

A DataTable keys its render caches on one table-wide counter, so one changed
cell or a cursor move re-renders every visible row; with a hundred tasks
reporting progress that took most of the frame budget. Here each row's
rendered line is cached by its key and only rows whose cells changed (or
that the cursor enters or leaves) are rendered again. Rows are `(key, cells)`
with fixed-width columns.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...core.safe_text import shown
from ..format import safe
from .look import CachedLook
from .scrolling import set_scroll_range


class RowKeyRef(NamedTuple):
    value: str


class KeyedTable(CachedLook, ScrollView, can_focus=True):
    COLUMNS: tuple[tuple[str, str, int], ...] = ()  # (key, label, least width)
    FLEX: dict[str, int] = {}  # columns that share the width left over, by weight

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("enter", "select_cursor", "Open", show=False),
    ]
    COMPONENT_CLASSES = {"keyed-table--header", "keyed-table--cursor", "keyed-table--cursor-blurred"}
    LOOK_CLASSES = ("keyed-table--header", "keyed-table--cursor", "keyed-table--cursor-blurred")
    DEFAULT_CSS = """
    KeyedTable { background: $surface; overflow-x: hidden; }
    KeyedTable > .keyed-table--header { text-style: bold; background: $panel; }
    KeyedTable > .keyed-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold;
    }
    KeyedTable > .keyed-table--cursor-blurred { background: $block-cursor-blurred-background; }
    """

    class RowHighlighted(Message):
        def __init__(self, table: "KeyedTable", key: str) -> None:
            super().__init__()
            self.data_table = table
            self.row_key = RowKeyRef(key)

    class RowSelected(Message):
        def __init__(self, table: "KeyedTable", key: str) -> None:
            super().__init__()
            self.data_table = table
            self.row_key = RowKeyRef(key)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._cells: dict[str, tuple] = {}
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._strips: dict[tuple, Strip] = {}
        self._cell_cache: dict[tuple, list] = {}
        self._stale: set[str] = set()  # changed while off screen: rendered when scrolled into view
        self.cursor_row = 0
        self.clock = None  # set by the owner: now() for rows refreshed on scroll
        self._columns: tuple[tuple[str, str, int], ...] | None = None  # as wide as the table is now
        self._columns_width = 0

    # ------------------------------------------------------------------ columns
    def columns(self) -> tuple[tuple[str, str, int], ...]:
        """(key, label, width) of each column at the table's width now: the FLEX columns share what is
        left once every column has its least width."""
        width = self.scrollable_content_region.width  # less a scrollbar when one shows
        if self._columns is None or width != self._columns_width:
            if width <= 0:
                return self.COLUMNS  # not laid out yet
            if self._columns is not None:  # a scrollbar came or went: rows are drawn again at the new widths
                self._strips.clear()
            self._columns, self._columns_width = fit_columns(self.COLUMNS, self.FLEX, width), width
        return self._columns

    def drawn_cell(self, key: str, column: str) -> str:
        """One cell of the row `key` as it is drawn (cut to its column's width, with … if cut)."""
        cols = self.columns()
        index = [c[0] for c in cols].index(column)
        cells = self._cells.get(key)
        if cells is None:
            raise KeyError(key)
        return "".join(seg.text for seg in self._cell(cells[index], cols[index][2]))

    @property
    def _width(self) -> int:
        return sum(w + 2 for _, _, w in self.columns())

    # ------------------------------------------------------------------ reading
    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def selected_key(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self.cursor_row, len(self._order) - 1)]

    def shown(self, key: str) -> bool:
        return key in self._cells

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    def now(self) -> float:
        return self.clock() if self.clock is not None else 0.0

    def keeps(self, key: str, ident, changed: set | None) -> bool:
        """Can the row `key` (of `ident`) stay as shown? Yes when it is shown and `ident` is not among
        what changed; `changed` None: every row is made again."""
        return changed is not None and ident not in changed and key in self._cells

    def make_row(self, key: str, now: float) -> tuple | None:
        """The cells of one row now (None: leave it as is)."""
        raise NotImplementedError

    def visible_keys(self) -> list[str]:
        top = max(0, int(self.scroll_y))
        return self._order[top: top + max(1, self.size.height - 1)]

    # ------------------------------------------------------------------ cursor
    def select_key(self, key: str, scroll: bool = True) -> bool:
        index = self._index.get(key)
        if index is None:
            return False
        self.move_cursor(row=index, scroll=scroll)
        return True

    def move_cursor(self, *, row: int, scroll: bool = True) -> None:
        if not self._order:
            self.cursor_row = 0
            return
        row = max(0, min(row, len(self._order) - 1))
        old, top = self.cursor_row, self.scroll_y
        self.cursor_row = row
        if scroll:
            self._scroll_to_cursor()
        if self.scroll_y == top:
            self._refresh_rows((old, row))  # the rows the cursor left and entered
        else:
            self.refresh()
        if row != old or old >= len(self._order):
            self.post_message(self.RowHighlighted(self, self._order[row]))

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(row=self.cursor_row + delta)

    def action_page(self, delta: int) -> None:
        self.move_cursor(row=self.cursor_row + delta * max(1, self.size.height - 2))

    def action_edge(self, end: int) -> None:
        self.move_cursor(row=(len(self._order) - 1) if end else 0)

    def action_select_cursor(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: Click) -> None:
        """A click selects the row (also the one the cursor is on); a double click opens it, as enter does."""
        if event.y < 1:
            return
        index = int(self.scroll_y) + event.y - 1
        if 0 <= index < len(self._order):
            if index == self.cursor_row:
                self.post_message(self.RowHighlighted(self, self._order[index]))
            else:
                self.move_cursor(row=index, scroll=False)
            if event.chain > 1:
                self.post_message(self.RowSelected(self, self._order[index]))

    def on_focus(self) -> None:
        self._refresh_rows((self.cursor_row,))  # only the cursor row looks different

    def on_blur(self) -> None:
        self._refresh_rows((self.cursor_row,))

    # ------------------------------------------------------------------ changing rows
    def reconcile(self, rows: list[tuple[str, tuple | None]]) -> None:
        """Make the table show `rows` in this order, re-rendering only rows that differ.

        Cells of None keep the row as it is shown (the caller knows it did not change).
        """
        selected = self.selected_key
        had_rows = bool(self._order)
        new_cells = {}
        for key, cells in rows:
            if cells is None:
                cells = self._cells.get(key)
                if cells is None:
                    cells = self.make_row(key, self.now()) or ()
            elif self._cells.get(key) != cells:
                self._forget(key)
            new_cells[key] = cells
        for key in self._cells.keys() - new_cells.keys():
            self._forget(key)
        self._cells = new_cells
        self._order = [key for key, _ in rows]
        self._index = {key: i for i, key in enumerate(self._order)}
        self._stale &= new_cells.keys()
        set_scroll_range(self, Size(self._width, len(self._order) + 1))
        if selected is not None and selected in self._index:
            self.cursor_row = self._index[selected]
        elif self._order:
            self.cursor_row = max(0, min(self.cursor_row, len(self._order) - 1))
            if self._order[self.cursor_row] != selected or not had_rows:
                self.post_message(self.RowHighlighted(self, self._order[self.cursor_row]))
        else:
            self.cursor_row = 0
        self.refresh()

    def update_rows(self, rows: dict[str, tuple]) -> None:
        """Update the cells of rows already shown (others are ignored); only their lines are painted again."""
        changed = []
        for key, cells in rows.items():
            old = self._cells.get(key)
            if old is None or old == cells:
                continue
            self._cells[key] = cells
            self._forget(key)
            changed.append(self._index[key])
        if changed:
            self._refresh_rows(changed)

    def _refresh_rows(self, indexes) -> None:
        """Paint these rows again (those on screen; the others are drawn when scrolled to)."""
        top, height, width = int(self.scroll_y), self.size.height, self.size.width
        regions = [Region(0, y, width, 1) for y in (i - top + 1 for i in indexes) if 1 <= y < height]
        if regions:
            self.refresh(*regions)

    def refresh_keys(self, keys, now: float) -> None:
        """Recompute rows on screen now; rows off screen are marked stale."""
        visible = set(self.visible_keys())
        rows = {}
        for key in keys:
            if key not in self._cells:
                continue
            if key in visible:
                row = self.make_row(key, now)
                if row is not None:
                    rows[key] = row
                self._stale.discard(key)
            else:
                self._stale.add(key)
        self.update_rows(rows)

    def refresh_visible(self, now: float) -> None:
        keys = self.visible_keys()
        self._stale.difference_update(keys)
        rows = {}
        for key in keys:
            row = self.make_row(key, now)
            if row is not None:
                rows[key] = row
        self.update_rows(rows)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._stale and self.clock is not None:
            keys = [k for k in self.visible_keys() if k in self._stale]
            if keys:
                self.refresh_keys(keys, self.clock())

    def _forget(self, key: str) -> None:
        for variant in ((key, 0), (key, 1), (key, 2)):
            self._strips.pop(variant, None)

    # ------------------------------------------------------------------ rendering
    def on_resize(self) -> None:
        self._columns = None
        self._strips.clear()
        self._cell_cache.clear()
        set_scroll_range(self, Size(self._width, len(self._order) + 1))
        if self._stale and self.clock is not None:
            self.refresh_keys([k for k in self.visible_keys() if k in self._stale], self.clock())

    def look_changed(self) -> None:
        self._strips.clear()  # a new theme: rows are drawn again in its colours

    def _cell(self, cell, width: int) -> list[Segment]:
        """A cell's segments, cached by its text and styles: a row that changes one cell renders one cell."""
        if isinstance(cell, Text):
            key = (cell.plain, str(cell.style), tuple((s.start, s.end, str(s.style)) for s in cell.spans), width)
        else:
            key = (str(cell), "", (), width)
        segments = self._cell_cache.get(key)
        if segments is None:
            part = safe(cell).copy() if isinstance(cell, Text) else Text(shown(str(cell)))
            part.no_wrap = True
            part.end = ""
            part.truncate(width, overflow="ellipsis", pad=True)
            segments = list(part.render(self.app.console, end=""))
            if part.style:  # Text.render leaves the base style out when there are no spans
                segments = list(Segment.apply_style(segments, self.app.console.get_style(part.style)))
            if len(self._cell_cache) > 20_000:
                self._cell_cache.clear()
            self._cell_cache[key] = segments
        return segments

    def _line(self, cells: tuple, style_name: str | None) -> Strip:
        space = Segment(" ")
        segments: list[Segment] = []
        for (_, _, width), cell in zip(self.columns(), cells):
            segments.append(space)
            segments.extend(self._cell(cell, width))
            segments.append(space)
        base = self.look()[0]  # the widget's own style, worked out once per style update
        segments = list(Segment.apply_style(segments, base))
        if style_name is not None:
            segments = list(Segment.apply_style(segments, post_style=self.get_component_rich_style(style_name)))
        return Strip(segments)

    def render_line(self, y: int) -> Strip:
        base = self.look()[0]
        width = self.size.width
        scroll_x = int(self.scroll_x)
        if y == 0:
            strip = self._strips.get(("__header__", 0))
            if strip is None:
                labels = tuple(Text(label) for _, label, _ in self.columns())
                strip = self._line(labels, "keyed-table--header")
                self._strips[("__header__", 0)] = strip
        else:
            index = int(self.scroll_y) + y - 1
            if index >= len(self._order):
                return Strip.blank(width, base)
            key = self._order[index]
            if index == self.cursor_row:
                variant = 1 if self.has_focus else 2
            else:
                variant = 0
            strip = self._strips.get((key, variant))
            if strip is None:
                style = {0: None, 1: "keyed-table--cursor", 2: "keyed-table--cursor-blurred"}[variant]
                strip = self._line(self._cells[key], style)
                self._strips[(key, variant)] = strip
        return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, base)


def fit_columns(columns, flex: dict[str, int], width: int) -> tuple[tuple[str, str, int], ...]:
    """Each column at its least width, and the width left over shared by the `flex` ones (by weight)."""
    free = max(0, width - sum(w + 2 for _, _, w in columns))
    total = sum(flex.get(key, 0) for key, _, _ in columns)
    if not total or not free:
        return tuple(columns)
    out, given, last = [], 0, max(i for i, (key, _, _) in enumerate(columns) if flex.get(key))
    for i, (key, label, least) in enumerate(columns):
        extra = 0
        if flex.get(key):
            extra = free - given if i == last else free * flex[key] // total
            given += extra
        out.append((key, label, least + extra))
    return tuple(out)
