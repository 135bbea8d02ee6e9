"""A DataTable updated by diff: rows keyed, only changed cells touched, never cleared on a tick."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist


def _plain(value) -> str:
    return value.plain if isinstance(value, Text) else str(value)


class KeyedTable(DataTable):
    """Rows are `(key, cells)`; the first cell's text must be unique (it carries the order)."""

    COLUMNS: tuple[tuple[str, str, int | None], ...] = ()  # (key, label, width)

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self._cells: dict[str, tuple] = {}
        self._order: list[str] = []

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
        """Update the cells of rows already shown (others are ignored)."""
        columns = [c[0] for c in self.COLUMNS]
        for key, cells in rows.items():
            old = self._cells.get(key)
            if old is None or old == cells:
                continue
            for col, before, after in zip(columns, old, cells):
                if before != after:
                    self.update_cell(key, col, after)
            self._cells[key] = cells

    def shown(self, key: str) -> bool:
        return key in self._cells
