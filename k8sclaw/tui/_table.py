"""The resource table: a virtualised DataTable updated row by row, keyed by store uid.

`sync` diffs the rows it is given against what is shown and only adds, updates or removes
what changed, so a watch event repaints one row and the cursor stays on its object.
Phases get consistent colours; long cells are cut with an ellipsis.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

Row = tuple[str, ...]
MAX_CELL = 40
PHASE_STYLES = {
    "Running": "green",
    "Succeeded": "bold green",
    "Completed": "bold green",
    "Ready": "green",
    "Connected": "green",
    "Active": "green",
    "Failed": "bold red",
    "Error": "bold red",
    "Timeout": "red",
    "Disconnected": "red",
    "Pending": "yellow",
    "Unknown": "dim",
}
_PHASE_COLUMNS = {"PHASE", "STATUS"}


def truncate(cell: str, width: int = MAX_CELL) -> str:
    """Cut a cell to `width` characters, ending with an ellipsis when cut."""
    return cell if len(cell) <= width else cell[: width - 1] + "…"


class ResourceTable(DataTable[str | Text]):
    """One view's rows; the full (unfiltered) row set is kept for filter and sort."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.headers: tuple[str, ...] = ()
        self.rows_all: dict[str, Row] = {}
        self.filter_text = ""
        self.sort_column: int | None = None
        self.sort_reverse = False

    def set_columns(self, headers: tuple[str, ...]) -> None:
        """Switch to another view's columns (drops every row)."""
        self.clear(columns=True)
        self.headers = headers
        self.rows_all = {}
        for header in headers:
            self.add_column(header, key=header)

    def _cells(self, row: Row) -> list[str | Text]:
        cells: list[str | Text] = []
        for header, cell in zip(self.headers, row, strict=True):
            text = truncate(cell)
            if header in _PHASE_COLUMNS:
                cells.append(Text(text, style=PHASE_STYLES.get(cell, "")))
            else:
                cells.append(text)
        return cells

    def _visible(self, row: Row) -> bool:
        needle = self.filter_text.lower()
        return not needle or any(needle in cell.lower() for cell in row)

    def sync(
        self, rows: dict[str, Row], removed: Iterable[str] = (), *, full: bool = False
    ) -> None:
        """Show `rows` (changed or new) and drop `removed`; `full` means rows is everything."""
        if full:
            removed = set(self.rows_all) - set(rows)
        for key in removed:
            self.rows_all.pop(key, None)
            if key in self.rows:
                self.remove_row(key)
        added = False
        for key, row in rows.items():
            old = self.rows_all.get(key)
            self.rows_all[key] = row
            shown = key in self.rows
            if not self._visible(row):
                if shown:
                    self.remove_row(key)
            elif not shown:
                self.add_row(*self._cells(row), key=key)
                added = True
            elif old != row:
                self._update(key, old, row)
        if added and self.sort_column is not None:
            self._apply_sort()

    def _update(self, key: str, old: Row | None, row: Row) -> None:
        cells = self._cells(row)
        for index, header in enumerate(self.headers):
            if old is None or old[index] != row[index]:
                try:
                    self.update_cell(key, header, cells[index])
                except (CellDoesNotExist, RowDoesNotExist):
                    return

    def refilter(self, text: str) -> None:
        """Show only rows with a cell containing `text` (case-insensitive); keep the cursor."""
        self.filter_text = text
        current = self.current_key()
        self.clear()
        self.add_rows_keyed(k for k, row in self.rows_all.items() if self._visible(row))
        if self.sort_column is not None:
            self._apply_sort()
        self.select_key(current)

    def add_rows_keyed(self, keys: Iterable[str]) -> None:
        """Add the rows of `keys` from the full row set in one batch."""
        for key in keys:
            self.add_row(*self._cells(self.rows_all[key]), key=key)

    def sort_by(self, column: int) -> None:
        """Sort by a column; the same column again flips the order."""
        self.sort_reverse = self.sort_column == column and not self.sort_reverse
        self.sort_column = column
        self._apply_sort()

    def _apply_sort(self) -> None:
        if self.sort_column is None or not self.headers:
            return
        current = self.current_key()

        def sort_key(cell: str | Text) -> tuple[int, float, str]:
            plain = str(cell)
            return (0, float(plain), "") if plain.isdigit() else (1, 0.0, plain.lower())

        self.sort(self.headers[self.sort_column], key=sort_key, reverse=self.sort_reverse)
        self.select_key(current)

    def current_key(self) -> str | None:
        """The key of the highlighted row, if any."""
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except CellDoesNotExist:
            return None

    def select_key(self, key: str | None) -> None:
        """Move the cursor to the row of `key` (if shown)."""
        if key is not None and key in self.rows:
            self.move_cursor(row=self.get_row_index(key))
