"""Headless TUI benchmark: 10,000 AgentRuns fed straight into the store (no API).

Prints time to first full paint, keystroke -> repaint latency for scrolling and filtering
(median, p95) and RSS. Targets: first paint <= 1 s, median keystroke <= 50 ms, RSS <= 250 MB.
Run: `uv run python bench/tui.py`.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import time

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
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"{label}: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms (n={len(ms)})"


async def main() -> None:
    runs = build_runs()
    app = K8sClawApp(clock=lambda: _seed.NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("2")
        start = time.perf_counter()
        app.post_message(RowsChanged("runs", runs, [], reset=True))
        await pilot.pause()
        assert app.store.counts()["runs"] == RUNS
        await pilot.wait_for_scheduled_animations()
        print(f"first full paint with {RUNS} runs: {time.perf_counter() - start:.3f} s")
        scroll = []
        for key in ["j"] * 60 + ["pagedown"] * 20:
            t0 = time.perf_counter()
            await pilot.press(key)
            await pilot.pause()
            scroll.append(time.perf_counter() - t0)
        print(summary("scroll keystroke -> repaint", scroll))
        await pilot.press("f")
        filt = []
        for key in "bench-run-0999" + "\b" * 6:
            t0 = time.perf_counter()
            await pilot.press("backspace" if key == "\b" else key)
            await pilot.pause()
            filt.append(time.perf_counter() - t0)
        print(summary("filter keystroke -> repaint", filt))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss_mb:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
