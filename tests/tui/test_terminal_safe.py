"""The TUI shows agent-written text without terminal controls (issue #13 item 14): the
feed (task, result, error, the live answer) and the text screen (logs as they stream in,
describe/YAML/result text)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from textual.app import App
from textual.widgets import RichLog

from k8sclaw.tui import Store
from k8sclaw.tui._feed import feed_text
from k8sclaw.tui._livefeed import LiveAnswer
from k8sclaw.tui._screens import TextScreen
from k8sclaw_protocol import LogPiece
from tests.tui import _seed

OSC52 = "\x1b]52;c;cm0gLXJmIH4K\x07"
CONTROLS = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]} - {"\n", "\t"}


def _store(*runs: object) -> Store:
    store = Store()
    store.apply("instances", [_seed.instance("alpha")], [], reset=True)
    store.apply("runs", list(runs), [], reset=True)
    return store


def test_the_feed_strips_results_errors_tasks_and_streamed_text() -> None:
    inst = _seed.instance("alpha")
    done = _seed.run(
        inst, "r1", f"task{OSC52}", phase="Succeeded", result=f"ok{OSC52}\r!", age_s=30
    )
    failed = _seed.run(inst, "r2", "b", phase="Failed", age_s=20)
    assert failed.status is not None
    failed.status.error = "bad\x1b[2Jthing"
    running = _seed.run(inst, "r3", "c", phase="Running", age_s=10)
    live = LiveAnswer(
        "r3", "r3-pod", [LogPiece("text", f"str{OSC52}eam\r"), LogPiece("tool", "→ t\x9b2J")]
    )
    text = feed_text(_store(done, failed, running), "alpha", live).plain
    assert not CONTROLS & set(text)
    assert "> task\n" in text and "[Succeeded] ok!\n" in text
    assert "✗ badthing" in text and "stream\n→ t ▍\n" in text


class _Host(App[None]):
    def __init__(self, screen: TextScreen) -> None:
        super().__init__()
        self.text_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self.text_screen)


async def test_the_log_view_strips_every_streamed_line_and_the_initial_text() -> None:
    def log() -> Iterator[str]:
        yield f"line one{OSC52}\r"
        yield "\x1b[1A\x1b[2Kline two\x1b\\"

    screen = TextScreen("Logs", "head\x1b]0;pwned\x07er", stream=log)
    app = _Host(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(200):
            if len(screen.lines) == 2:
                break
            await asyncio.sleep(0.05)
        await pilot.pause()
        shown = [strip.text for strip in screen.query_one(RichLog).lines]
    assert screen.lines == ["line one", "line two"]
    assert [line.rstrip() for line in shown] == ["header", "line one", "line two"]


async def test_the_log_view_hides_the_result_marker_and_wraps_long_lines() -> None:
    from k8sclaw_protocol import AgentResult, ipc

    long_line = "x" * 150 + "END"

    def log() -> Iterator[str]:
        yield long_line
        yield ipc.result_line(AgentResult(status="success", response="42"))

    screen = TextScreen("Logs", stream=log)
    app = _Host(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(200):
            if len(screen.lines) == 2:
                break
            await asyncio.sleep(0.05)
        await pilot.pause()
        shown = "".join(strip.text for strip in screen.query_one(RichLog).lines)
        widths = [strip.cell_length for strip in screen.query_one(RichLog).lines]
    assert "__K8SCLAW" not in shown and "run ended: success" in screen.lines[1]
    assert "END" in shown  # wrapped onto the next line, not cut off
    assert max(widths) <= 80
