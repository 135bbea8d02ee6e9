"""A DataTable updated by diff: rows keyed, only changed cells touched, never cleared on a tick."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowDoesNotExist, RowKey


def _plain(value) -> str:
    return value.plain if isinstance(value, Text) else str(value)


class KeyedTable(DataTable):
    """Rows are `(key, cells)`; the first cell's text must be unique (it carries the order)."""

    COLUMNS: tuple[tuple[str, str, int | None], ...] = ()  # (key, label, width)

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self._cells: dict[str, tuple] = {}
        self._order: list[str] = []
        self._stale: set[str] = set()  # changed while off screen: redrawn when scrolled into view
        self.clock = None  # set by the owner: now() for rows refreshed on scroll

    def make_row(self, key: str, now: float) -> tuple | None:
        """The cells of one row now (None: leave it as is)."""
        raise NotImplementedError

    def visible_keys(self) -> list[str]:
        top = max(0, int(self.scroll_y))
        height = max(1, self.size.height)
        return self._order[top: top + height]

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

    def on_resize(self) -> None:
        if self._stale and self.clock is not None:
            self.refresh_keys([k for k in self.visible_keys() if k in self._stale], self.clock())

    def on_mount(self) -> None:
        for key, label, width in self.COLUMNS:
            self.add_column(label, key=key, width=width)

    @property
    def selected_key(self) -> str | None:
        if not self._order or self.cursor_row < 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return row_key.value

    def select_key(self, key: str, scroll: bool = True) -> bool:
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index, scroll=scroll)
        return True

    def reconcile(self, rows: list[tuple[str, tuple]]) -> None:
        """Make the table show `rows` in this order, touching only what differs."""
        selected = self.selected_key
        wanted = {key for key, _ in rows}
        for key in [k for k in self._order if k not in wanted]:
            self.remove_row(key)
            del self._cells[key]
            self._stale.discard(key)
        columns = [c[0] for c in self.COLUMNS]
        added = False
        for key, cells in rows:
            old = self._cells.get(key)
            if old is None:
                self.add_row(*cells, key=key)
                added = True
            elif old != cells:
                for col, before, after in zip(columns, old, cells):
                    if before != after:
                        self.update_cell(key, col, after)
            self._cells[key] = cells
            self._stale.discard(key)
        new_order = [key for key, _ in rows]
        current = self._order if not added else [k for k in self._order if k in wanted] + [
            k for k in new_order if k not in self._order
        ]
        if current != new_order:
            rank = {_plain(cells[0]): i for i, (_, cells) in enumerate(rows)}
            self.sort(columns[0], key=lambda value: rank.get(_plain(value), len(rank)))
        self._order = new_order
        if selected is not None and selected in wanted:
            if self.selected_key != selected:
                self.select_key(selected, scroll=False)

    def update_rows(self, rows: dict[str, tuple]) -> None:
        """Update the cells of rows already shown (others are ignored), with one refresh.

        `update_cell` refreshes the widget per cell; a hundred progress rows
        per batch made that the hot path, so changed cells are written
        directly (fixed-width columns: no re-measuring needed) and the table is
        refreshed once.
        """
        columns = [ColumnKey(c[0]) for c in self.COLUMNS]
        changed = False
        changed_keys: set[str] = set()
        changed_cells: set[tuple] = set()
        for key, cells in rows.items():
            old = self._cells.get(key)
            if old is None or old == cells:
                continue
            data = self._data.get(RowKey(key))
            if data is None:
                continue
            for col, before, after in zip(columns, old, cells):
                if before != after:
                    data[col] = after
                    changed = True
                    changed_keys.add(key)
                    changed_cells.add((RowKey(key), col))
            self._cells[key] = cells
        if changed:
            self._invalidate(changed_keys, changed_cells)
            self.refresh()

    def _invalidate(self, keys: set, cells: set) -> None:
        """Forget the cached renders of changed rows only.

        DataTable keys its render caches on a table-wide update counter, so one
        changed cell re-renders every visible line; with a hundred tasks
        reporting progress that is most of the frame budget. Rows whose cells
        did not change keep their cached renders. (Relies on DataTable's cache
        layout in Textual 8.2; anything unexpected falls back to the counter.)
        """
        try:
            row_keys = {RowKey(k) for k in keys}
            indexes = {self._row_locations.get(k) for k in row_keys}
            cell_cache = self._cell_render_cache
            for cache_key in [c for c in cell_cache.keys() if (c[0], c[1]) in cells]:
                cell_cache.discard(cache_key)  # only the cells that changed are rendered again
            for cache_key in [c for c in self._row_render_cache.keys() if c[0] in row_keys]:
                self._row_render_cache.discard(cache_key)
            for cache_key in [c for c in self._row_renderable_cache.keys() if c[1] in indexes]:
                self._row_renderable_cache.discard(cache_key)
            self._line_cache.clear()
        except Exception:
            self._update_count += 1

    def shown(self, key: str) -> bool:
        return key in self._cells
