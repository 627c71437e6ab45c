"""The resource table: a virtualised Line API widget that paints only the visible rows.

Rows live in a `RowModel` (every row plus the filtered, sorted index list); `render_line`
draws line `y` straight from that list, so 10,000 runs cost the same to paint as 20.
The cursor follows its object key across updates, filter and sort; a watch event that
changes a row in place repaints that one line, and only if it is on screen.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from k8sclaw.tui._rows import GAP, MAX_CELL, PHASE_COLUMNS, Row, RowModel, truncate

__all__ = ["MAX_CELL", "PHASE_STYLES", "ResourceTable", "truncate"]

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
_PHASE_RICH = {phase: Style.parse(style) for phase, style in PHASE_STYLES.items()}


class ResourceTable(ScrollView, can_focus=True):
    """One view's rows: header line, then the rows of the model's visible order."""

    COMPONENT_CLASSES = {  # noqa: RUF012 - textual's declared class attribute
        "resource-table--header",
        "resource-table--cursor",
        "resource-table--zebra",
    }
    DEFAULT_CSS = """
    ResourceTable { overflow-x: hidden; overflow-y: auto; height: 1fr; }
    ResourceTable > .resource-table--header { color: #74C7EC; text-style: bold; }
    ResourceTable > .resource-table--cursor { background: #74C7EC; color: #1a1a2e; }
    ResourceTable > .resource-table--zebra { background: $foreground 4%; }
    """
    BINDINGS = [  # noqa: RUF012
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    class Highlighted(Message):
        """The cursor moved to another object (`key`; None when the table is empty)."""

        def __init__(self, key: str | None) -> None:
            super().__init__()
            self.key = key

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.model = RowModel()
        self.cursor = 0
        self._cursor_key: str | None = None
        self._settle_pending = False

    # -- the state the app reads --------------------------------------------------------

    @property
    def headers(self) -> Row:
        """The view's column names."""
        return self.model.headers

    @property
    def rows_all(self) -> dict[str, Row]:
        """Every row of the view, filtered or not."""
        return self.model.rows

    @property
    def filter_text(self) -> str:
        """The active filter ("" for none)."""
        return self.model.filter_text

    @property
    def sort_column(self) -> int | None:
        """The column rows are sorted by (None: arrival order)."""
        return self.model.sort_column

    @property
    def row_count(self) -> int:
        """How many rows are shown (after the filter)."""
        return len(self.model.order)

    def get_row_at(self, index: int) -> Row:
        """The cells of the `index`th shown row."""
        return self.model.rows[self.model.order[index]]

    def current_key(self) -> str | None:
        """The key of the highlighted row, if any."""
        if self._cursor_key is None or self._cursor_key not in self.model.rows:
            self._settle()
        return self._cursor_key

    # -- changes ------------------------------------------------------------------------

    def set_columns(self, headers: tuple[str, ...]) -> None:
        """Switch to another view's columns (drops every row, keeps the filter)."""
        self.model.reset(headers)
        self.cursor, self._cursor_key = 0, None
        self.scroll_to(y=0, animate=False, immediate=True)
        self._settle()

    def sync(
        self, rows: dict[str, Row], removed: Iterable[str] = (), *, full: bool = False
    ) -> None:
        """Show `rows` (changed or new) and drop `removed`; `full` means rows is everything."""
        model = self.model
        if full:
            model.replace(rows)
            self._changed()
            return
        reorder = False
        for key in removed:
            if key in model.rows:
                model.remove(key)
                reorder = True
        for key, row in rows.items():
            if model.rows.get(key) == row:
                continue
            widths = list(model.widths)
            if model.upsert(key, row) or model.widths != widths:
                reorder = True
            elif not reorder and not model.stale:
                self._repaint_key(key)
        if reorder:
            self._changed()

    def refilter(self, text: str) -> None:
        """Show only rows with a cell containing `text` (case-insensitive); keep the cursor."""
        self.model.set_filter(text)
        self._settle()

    def sort_by(self, column: int) -> None:
        """Sort by a column; the same column again flips the order."""
        reverse = self.model.sort_column == column and not self.model.sort_reverse
        self.model.set_sort(column, reverse=reverse)
        self._settle()

    def select_key(self, key: str | None) -> None:
        """Move the cursor to the row of `key` (if shown)."""
        index = self.model.position(key)
        if index is not None:
            self._move(index)

    def _changed(self) -> None:
        """Rows were added/removed/reordered: repaint, and settle the cursor once per batch."""
        self.refresh()
        if not self._settle_pending:
            self._settle_pending = True
            self.call_later(self._settle)

    def _settle(self) -> None:
        """Re-find the cursor's object in the new order (same index if it went away)."""
        self._settle_pending = False
        order = self.model.order
        self.virtual_size = Size(0, len(order) + 1)
        index = self.model.position(self._cursor_key)
        if index is None:
            index = min(self.cursor, len(order) - 1)
        self.refresh()
        if index < 0:
            self.cursor = 0
            self._set_key(None)
            return
        self._move(index)

    def visible_keys(self) -> set[str]:
        """Keys of the rows on screen now (what a periodic refresh needs to recompute)."""
        top = round(self.scroll_offset.y)
        return set(self.model.order[top : top + max(0, self.size.height - 1)])

    def _repaint_key(self, key: str) -> None:
        index = self.model.position(key)
        top = round(self.scroll_offset.y)
        if index is not None and top <= index < top + self.size.height:
            self.refresh_line(index + 1)

    # -- cursor -------------------------------------------------------------------------

    def _move(self, index: int) -> None:
        order = self.model.order
        if not order:
            return
        index = max(0, min(index, len(order) - 1))
        self.refresh_line(self.cursor + 1)
        self.cursor = index
        self.refresh_line(index + 1)
        self._scroll_to_cursor()
        self._set_key(order[index])

    def _set_key(self, key: str | None) -> None:
        if key != self._cursor_key:
            self._cursor_key = key
            self.post_message(self.Highlighted(key))

    def _page(self) -> int:
        return max(1, self.size.height - 2)

    def _scroll_to_cursor(self) -> None:
        rows = self.size.height - 1
        if rows <= 0:
            return
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows:
            self.scroll_to(y=self.cursor - rows + 1, animate=False, immediate=True)

    def action_cursor_down(self) -> None:
        """Next row."""
        self._move(self.cursor + 1)

    def action_cursor_up(self) -> None:
        """Previous row."""
        self._move(self.cursor - 1)

    def action_page_down(self) -> None:
        """One screen further."""
        self._move(self.cursor + self._page())

    def action_page_up(self) -> None:
        """One screen back."""
        self._move(self.cursor - self._page())

    def action_first(self) -> None:
        """First row."""
        self._move(0)

    def action_last(self) -> None:
        """Last row."""
        self._move(self.row_count - 1)

    def on_click(self, event: events.Click) -> None:
        """A click on a row highlights it."""
        if event.y >= 1:
            self._move(round(self.scroll_offset.y) + event.y - 1)

    # -- painting -----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        """Line 0 is the header; line `y` is shown row `scroll_y + y - 1`."""
        width = self.size.width
        base = self.rich_style
        layout = self.model.fit(width)
        if y == 0:
            return self._header(layout, width, base)
        index = round(self.scroll_offset.y) + y - 1
        order = self.model.order
        if index >= len(order):
            return Strip.blank(width, base)
        if index == self.cursor:
            style = base + self.get_component_rich_style("resource-table--cursor")
        elif index % 2:
            style = base + self.get_component_rich_style("resource-table--zebra")
        else:
            style = base
        return self._row(self.model.rows[order[index]], layout, width, style, index == self.cursor)

    def _header(self, layout: list[tuple[int, int]], width: int, base: Style) -> Strip:
        style = base + self.get_component_rich_style("resource-table--header")
        arrow = " ▼" if self.model.sort_reverse else " ▲"
        segments = []
        for col, w in layout:
            label = self.headers[col] + (arrow if col == self.model.sort_column else "")
            segments += [Segment(" " * GAP, style), Segment(set_cell_size(label, w), style)]
        return Strip(segments).adjust_cell_length(width, style)

    def _row(
        self, row: Row, layout: list[tuple[int, int]], width: int, style: Style, cursor: bool
    ) -> Strip:
        segments = []
        headers = self.headers
        for col, w in layout:
            cell = row[col]
            cell_style = style
            if not cursor and headers[col] in PHASE_COLUMNS and cell in _PHASE_RICH:
                cell_style = style + _PHASE_RICH[cell]
            segments.append(Segment(" " * GAP, style))
            segments.append(Segment(set_cell_size(truncate(cell, w), w), cell_style))
        return Strip(segments).adjust_cell_length(width, style)
