"""The pure row model behind the resource table: every row, the filtered+sorted index list,
column widths and the narrow-screen column choice.

Kept apart from the widget so that filtering and sorting 10,000 rows is a list computation
(no widget rebuild) and is tested without a terminal. The index list is recomputed lazily:
a burst of watch events marks it stale once and it is rebuilt at most once per repaint.
"""

from __future__ import annotations

from collections.abc import Iterable

Row = tuple[str, ...]
MAX_CELL = 40
MIN_CELL = 6
GAP = 1
PHASE_COLUMNS = frozenset({"PHASE", "STATUS"})  # cells styled by phase; kept on narrow screens


def truncate(cell: str, width: int = MAX_CELL) -> str:
    """Cut a cell to `width` characters, ending with an ellipsis when cut."""
    return cell if len(cell) <= width else cell[: width - 1] + "…"


def _sort_key(cell: str) -> tuple[int, float, str]:
    return (0, float(cell), "") if cell.isdigit() else (1, 0.0, cell.lower())


class RowModel:
    """All rows of one view keyed by object key, and the visible order (filter, then sort)."""

    def __init__(self) -> None:
        self.headers: Row = ()
        self.rows: dict[str, Row] = {}
        self._haystack: dict[str, str] = {}
        self.filter_text = ""
        self.sort_column: int | None = None
        self.sort_reverse = False
        self._order: list[str] = []
        self._pos: dict[str, int] = {}
        self.stale = False
        self.widths: list[int] = []

    def reset(self, headers: Row) -> None:
        """Another view: new columns, no rows, no sort (the filter text stays)."""
        self.headers = headers
        self.rows, self._haystack = {}, {}
        self.sort_column, self.sort_reverse = None, False
        self.widths = [len(h) for h in headers]
        self._order, self._pos, self.stale = [], {}, False

    def matches(self, key: str) -> bool:
        """Does the row pass the filter (case-insensitive substring of any cell)?"""
        return not self.filter_text or self.filter_text.lower() in self._haystack[key]

    def upsert(self, key: str, row: Row) -> bool:
        """Store a row; True when the visible order may have changed (else repaint it in place)."""
        old = self.rows.get(key)
        self.rows[key] = row
        self._haystack[key] = "\x00".join(row).lower()
        for i, cell in enumerate(row):
            self.widths[i] = max(self.widths[i], min(len(cell), MAX_CELL))
        if old is None:
            if not self.matches(key):
                return False
            if self.sort_column is None and not self.stale:
                self._pos[key] = len(self._order)
                self._order.append(key)
                return True
            self.stale = True
            return True
        col = self.sort_column
        if (key in self._pos) != self.matches(key) or (col is not None and old[col] != row[col]):
            self.stale = True
            return True
        return False

    def remove(self, key: str) -> None:
        """Forget a row."""
        if self.rows.pop(key, None) is not None:
            self._haystack.pop(key, None)
            self.stale = True

    def replace(self, rows: dict[str, Row]) -> None:
        """Everything at once (a full list): widths and order are recomputed from scratch."""
        self.rows = dict(rows)
        self._haystack = {k: "\x00".join(r).lower() for k, r in rows.items()}
        self.widths = [len(h) for h in self.headers]
        for row in rows.values():
            for i, cell in enumerate(row):
                if len(cell) > self.widths[i]:
                    self.widths[i] = min(len(cell), MAX_CELL)
        self.stale = True

    def set_filter(self, text: str) -> None:
        """Show only rows with a cell containing `text`."""
        if text != self.filter_text:
            self.filter_text = text
            self.stale = True

    def set_sort(self, column: int | None, *, reverse: bool = False) -> None:
        """Order by a column (numbers numerically), or arrival order with None."""
        self.sort_column, self.sort_reverse = column, reverse
        self.stale = True

    @property
    def order(self) -> list[str]:
        """Keys of the visible rows, in display order (recomputed if stale)."""
        if self.stale:
            self._rebuild()
        return self._order

    def position(self, key: str | None) -> int | None:
        """Display index of `key`, None when it is not shown."""
        if key is None:
            return None
        if self.stale:
            self._rebuild()
        return self._pos.get(key)

    def _rebuild(self) -> None:
        keys: Iterable[str] = self.rows
        if self.filter_text:
            needle = self.filter_text.lower()
            keys = [k for k, hay in self._haystack.items() if needle in hay]
        order = list(keys)
        col = self.sort_column
        if col is not None:
            rows = self.rows
            order.sort(key=lambda k: _sort_key(rows[k][col]), reverse=self.sort_reverse)
        self._order = order
        self._pos = {k: i for i, k in enumerate(order)}
        self.stale = False

    def fit(self, width: int) -> list[tuple[int, int]]:
        """(column index, width) pairs that fit in `width` cells, in display order.

        Wide screens show every column (cut at `MAX_CELL`). Narrow ones keep NAME, the
        phase/status column and AGE first, then the others left to right while they fit; a
        kept column wider than the room left is cut (not below `MIN_CELL`).
        """
        count = len(self.headers)
        if not count:
            return []
        priority = [0]
        priority += [i for i, h in enumerate(self.headers) if h in PHASE_COLUMNS and i]
        if count > 1 and count - 1 not in priority:
            priority.append(count - 1)
        priority += [i for i in range(count) if i not in priority]
        room = width - GAP
        chosen: dict[int, int] = {}
        for index in priority:
            want = self.widths[index]
            if want + GAP > room:
                want = room - GAP
                if want < MIN_CELL:
                    continue
            chosen[index] = want
            room -= want + GAP
        return sorted(chosen.items())
