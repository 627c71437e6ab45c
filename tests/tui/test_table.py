"""The virtualised table: the row model (filter, sort, narrow columns) and the widget
(only visible rows painted, cursor kept by key across updates, sort and filter)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from k8sclaw.tui._rows import RowModel, truncate
from k8sclaw.tui._table import ResourceTable

HEADERS = ("NAME", "INSTANCE", "PHASE", "POD", "TOKENS", "AGE")


def row(i: int, phase: str = "Running") -> tuple[str, ...]:
    return (f"run-{i:04d}", "alpha", phase, f"run-{i:04d}-pod-with-a-long-name", str(i), "5m")


def model_with(n: int) -> RowModel:
    model = RowModel()
    model.reset(HEADERS)
    model.replace({f"k{i}": row(i) for i in range(n)})
    return model


def test_filter_and_sort_recompute_the_index_list() -> None:
    model = model_with(100)
    assert model.order[:2] == ["k0", "k1"] and len(model.order) == 100
    model.set_filter("RUN-000")
    assert model.order == [f"k{i}" for i in range(10)]
    model.set_sort(4, reverse=True)  # TOKENS numerically, descending
    assert model.order[:3] == ["k9", "k8", "k7"]
    assert model.position("k9") == 0 and model.position("k50") is None


def test_upsert_says_when_the_order_changes() -> None:
    model = model_with(3)
    assert model.order == ["k0", "k1", "k2"]
    assert model.upsert("k1", row(1, "Succeeded")) is False  # in place: repaint one line
    assert model.upsert("k9", row(9)) is True and model.order[-1] == "k9"  # appended
    model.set_sort(2)
    assert model.upsert("k0", row(0, "Failed")) is True  # sort column changed
    assert model.order[0] == "k0"
    model.set_filter("succeeded")
    assert model.order == ["k1"]
    assert model.upsert("k2", row(2, "Succeeded")) is True and model.order == ["k1", "k2"]
    model.remove("k1")
    assert model.order == ["k2"]


def test_narrow_widths_keep_name_phase_and_age_first() -> None:
    model = model_with(3)
    wide = model.fit(160)
    assert [c for c, _ in wide] == [0, 1, 2, 3, 4, 5]
    narrow = model.fit(40)
    kept = [c for c, _ in narrow]
    assert kept[0] == 0 and 2 in kept and 5 in kept and len(kept) < 6
    assert sum(w + 1 for _, w in narrow) <= 40
    assert truncate("abcdefgh", 5) == "abcd…"


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ResourceTable()


async def test_widget_paints_visible_rows_and_keeps_cursor_by_key() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 12)) as pilot:
        table = app.query_one(ResourceTable)
        table.set_columns(HEADERS)
        table.sync({f"k{i}": row(i) for i in range(5000)}, full=True)
        await pilot.pause()
        assert table.row_count == 5000 and table.virtual_size.height == 5001
        header = table.render_line(0).text
        assert header.split() == list(HEADERS)
        assert table.render_line(1).text.split()[0] == "run-0000"
        await pilot.press("pagedown", "down")
        key = table.current_key()
        assert key == "k11" and table.scroll_offset.y > 0
        top = round(table.scroll_offset.y)
        assert table.render_line(11 - top + 1).text.split()[0] == "run-0011"
        table.sort_by(4)
        table.sort_by(4)  # descending: k11 moves near the end, the cursor follows it
        assert table.current_key() == "k11" and table.cursor == 5000 - 12
        table.refilter("run-001")
        assert table.current_key() == "k11" and table.row_count == 10
        table.sync({}, ["k11"])
        await pilot.pause()
        assert table.current_key() is not None and table.current_key() != "k11"
        table.refilter("")
        await pilot.press("end")
        assert table.cursor == table.row_count - 1 and table.current_key() == "k0"
        await pilot.press("home")
        assert table.current_key() == "k4999"


async def test_in_place_change_repaints_only_a_visible_line() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 12)) as pilot:
        table = app.query_one(ResourceTable)
        table.set_columns(HEADERS)
        table.sync({f"k{i}": row(i) for i in range(100)}, full=True)
        await pilot.pause()
        repainted: list[int] = []
        original = table.refresh_line
        table.refresh_line = lambda y: (repainted.append(y), original(y))[1]  # type: ignore[method-assign]
        table.sync({"k3": row(3, "Failed")})
        table.sync({"k90": row(90, "Failed")})  # off screen: no repaint
        assert repainted == [4]
        assert "Failed" in table.render_line(4).text
