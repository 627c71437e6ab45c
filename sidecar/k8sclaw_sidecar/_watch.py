"""The inotify watch loop shared by the bridge, the sandbox and the agent's exec wait.

`watch_files` yields batches of regular files that appeared or changed under a root.
Its first batch is a full scan taken once the watcher is running, so files written
before the process started are not missed and none slips between scan and watch.
Consumers deduplicate (the bridge by content, the sandbox by an atomic claim).
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from watchfiles import Change, awatch

from k8sclaw_protocol import ipc

# Latency matters (a stream chunk should reach the bus in milliseconds): return as soon
# as the file system has been quiet for 1 ms, at most 20 ms after the first change.
_STEP_MS = 1
_DEBOUNCE_MS = 20
_TICK_MS = 100


def _candidates(root: Path, changes: set[tuple[Change, str]] | None) -> list[Path]:
    if changes is None:
        return list(root.rglob("*"))
    return [Path(p) for change, p in changes if change != Change.deleted]


def _regular_files(paths: list[Path], accept: Callable[[Path], bool]) -> list[Path]:
    found: list[tuple[int, str, Path]] = []
    for path in paths:
        if ipc.is_ignored(path) or not accept(path):
            continue
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((st.st_mtime_ns, path.name, path))
    return [p for _, _, p in sorted(found)]


async def watch_files(
    root: Path, stop: asyncio.Event, accept: Callable[[Path], bool] = lambda _: True
) -> AsyncIterator[list[Path]]:
    """Yield new or changed files under `root` (oldest first) until `stop` is set.

    Empty batches are yielded on idle ticks so callers can check their own deadlines.
    """
    scanned = False
    async for changes in awatch(
        root,
        watch_filter=None,
        debounce=_DEBOUNCE_MS,
        step=_STEP_MS,
        rust_timeout=_TICK_MS,
        yield_on_timeout=True,
        stop_event=stop,
    ):
        batch = _regular_files(_candidates(root, None if not scanned else changes), accept)
        scanned = True
        yield batch
