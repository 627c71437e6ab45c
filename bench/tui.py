"""Headless TUI benchmark: 10,000 AgentRuns fed straight into the store (no API).

Prints time to first full paint, keystroke -> repaint latency for scrolling and filtering
(median, p95) and RSS. Targets: first paint <= 1 s, median keystroke <= 50 ms, RSS <= 250 MB.

"Repaint" is the moment textual hands a composed frame that already shows the change to
the driver (`App._display`): the key event goes in through the driver like a real key, and
the clock stops at the first frame rendered after the app's state reflects the key. Pilot's
own settling sleeps (>= 40 ms per `press`) are not part of the figure; they are printed
separately as the Pilot round trip for comparison with earlier runs.
Run: `uv run python bench/tui.py`.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

from textual import events

from k8sclaw.tui import K8sClawApp, RowsChanged
from tests.tui import _seed

RUNS = 10_000


def build_runs() -> list[object]:
    inst = _seed.instance("bench", uid="uid-bench")
    phases = ("Pending", "Running", "Succeeded", "Failed")
    return [
        _seed.run(inst, f"bench-run-{i:05d}", f"task {i}", phase=phases[i % 4], age_s=i)
        for i in range(RUNS)
    ]


def summary(label: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[max(0, int(len(ms) * 0.95) - 1)]
    return f"{label}: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms (n={len(ms)})"


class FrameClock:
    """Resolves a future at the first frame displayed once `cond()` holds."""

    def __init__(self, app: K8sClawApp) -> None:
        self.waiting: tuple[Callable[[], bool], asyncio.Future[float]] | None = None
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is not None and self.waiting and self.waiting[0]():
                future = self.waiting[1]
                self.waiting = None
                future.set_result(time.perf_counter())

        app._display = display  # type: ignore[method-assign]

    async def until(self, cond: Callable[[], bool], start: float) -> float:
        """Seconds from `start` to the first frame showing `cond`."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting = (cond, future)
        return await asyncio.wait_for(future, 30) - start


async def key(
    app: K8sClawApp, clock: FrameClock, name: str, cond: Callable[[], bool], char: str | None
) -> float:
    """Send one key through the driver; seconds until the frame that shows its effect."""
    start = time.perf_counter()
    assert app._driver is not None
    app._driver.send_message(events.Key(name, char))
    return await clock.until(cond, start)


async def main() -> None:
    runs = build_runs()
    app = K8sClawApp(clock=lambda: _seed.NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        clock = FrameClock(app)
        await pilot.press("2")
        start = time.perf_counter()
        app.post_message(RowsChanged("runs", runs, [], reset=True))
        first = await clock.until(lambda: app.table.row_count == RUNS, start)
        print(f"first full paint with {RUNS} runs: {first:.3f} s")
        scroll = []
        for name in ["j"] * 60 + ["pagedown"] * 20:
            await pilot.pause()
            cursor = app.table.cursor
            moved = lambda c=cursor: app.table.cursor > c  # noqa: E731
            scroll.append(await key(app, clock, name, moved, name if name == "j" else None))
        print(summary("scroll keystroke -> repaint", scroll))
        await pilot.press("f")
        filt = []
        typed = ""
        for char in "bench-run-0999" + "\b" * 6:
            await pilot.pause()
            typed = typed[:-1] if char == "\b" else typed + char
            name = {"\b": "backspace", "-": "minus"}.get(char, char)
            shown = lambda t=typed: app.table.filter_text == t  # noqa: E731
            filt.append(await key(app, clock, name, shown, None if char == "\b" else char))
        print(summary("filter keystroke -> repaint", filt))
        await pilot.press("escape", "escape")
        trips = []
        for name in ["j"] * 20:
            t0 = time.perf_counter()
            await pilot.press(name)
            await pilot.pause()
            trips.append(time.perf_counter() - t0)
        print(summary("(Pilot press+pause round trip, includes its idle sleeps)", trips))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss_mb:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
