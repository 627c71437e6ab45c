"""The file watch loop shared by the bridge, the sandbox and the agent's exec wait.

`watch_files` yields batches of regular files that appeared or were rewritten under a
root. Its first batch is a full scan taken once the watches are in place, so files
written before the process started are not missed and none slips between scan and
watch. Consumers deduplicate (the bridge by content, the sandbox by an atomic claim).

On Linux the watcher is raw inotify (`inotify_simple`) read from the event loop via
`loop.add_reader`: a file is reported when its writer closes it (`IN_CLOSE_WRITE`) or
renames it into place (`IN_MOVED_TO`, what `ipc.write_atomic` does), so a half-written
file is never reported and the wake-up takes microseconds. Everything pending when the
loop wakes forms one batch, in kernel order. New subdirectories are watched and
scanned; a queue overflow triggers a full rescan. Elsewhere (a developer's macOS) the
`watchfiles` library stands in, with its few milliseconds of batching.
"""

from __future__ import annotations

import asyncio
import contextlib
import stat
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from k8sclaw_protocol import ipc

TICK_SECONDS = 0.1
"""Idle batches (empty) are yielded this often so callers can check their deadlines."""

Accept = Callable[[Path], bool]


def _accept_all(_: Path) -> bool:
    return True


def _regular_files(paths: Iterable[Path], accept: Accept, *, by_mtime: bool) -> list[Path]:
    """Existing entries among `paths` that are not directories, deduplicated; oldest
    first when `by_mtime`.

    Looked at with `lstat`: symlinks, FIFOs and other special files are reported too,
    so the reader can quarantine them (the safe reader refuses them; a `stat` that
    followed the link would report a link to `/proc/self/mem` as a regular file).
    """
    found: dict[Path, int] = {}
    for path in paths:
        if path in found or ipc.is_ignored(path) or not accept(path):
            continue
        try:
            st = path.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            found[path] = st.st_mtime_ns
    if by_mtime:
        return [p for _, _, p in sorted((m, p.name, p) for p, m in found.items())]
    return list(found)


async def watch_files(
    root: Path, stop: asyncio.Event, accept: Accept = _accept_all
) -> AsyncIterator[list[Path]]:
    """Yield new or rewritten files under `root` until `stop` is set.

    Empty batches are yielded on idle ticks so callers can check their own deadlines.
    """
    watcher = _inotify_batches if sys.platform == "linux" else _watchfiles_batches
    async for batch in watcher(root, stop, accept):
        yield batch


class _Inotify:
    """Recursive inotify watches on one tree, readable from the event loop."""

    _FILE_EVENTS = 0x08 | 0x80  # IN_CLOSE_WRITE | IN_MOVED_TO
    _MASK = _FILE_EVENTS | 0x100 | 0x02000000  # + IN_CREATE, IN_DONT_FOLLOW
    _ISDIR, _OVERFLOW, _IGNORED = 0x40000000, 0x4000, 0x8000

    def __init__(self, root: Path) -> None:
        import inotify_simple  # type: ignore[import-untyped]  # Linux only

        self.root = root
        self.fd: Any = inotify_simple.INotify(nonblocking=True)
        self.dirs: dict[int, Path] = {}
        self.wake = asyncio.Event()

    def watch_tree(self, top: Path) -> list[Path]:
        """Watch `top` and every directory below it; returns the files found there."""
        files: list[Path] = []
        pending = [top]
        while pending:
            directory = pending.pop()
            try:
                self.dirs[self.fd.add_watch(directory, self._MASK)] = directory
                entries = list(directory.iterdir())
            except OSError:
                continue
            for entry in entries:
                try:
                    is_dir = stat.S_ISDIR(entry.lstat().st_mode)
                except OSError:
                    continue
                (pending if is_dir else files).append(entry)
        return files

    def drain(self) -> tuple[list[Path], bool]:
        """Files reported since the last call, in kernel order; True if a rescan is due."""
        changed: list[Path] = []
        rescan = False
        for event in self.fd.read(timeout=0):
            if event.mask & self._OVERFLOW:
                rescan = True
            elif event.mask & self._IGNORED:
                self.dirs.pop(event.wd, None)
            elif event.wd in self.dirs and event.name:
                path = self.dirs[event.wd] / event.name
                if event.mask & self._ISDIR:
                    changed += self.watch_tree(path)
                elif event.mask & self._FILE_EVENTS or _special(path):
                    changed.append(path)
        return changed, rescan

    async def wait(self) -> None:
        """Until the fd is readable, `stop` is relayed or a tick passes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(TICK_SECONDS):
                await self.wake.wait()
        self.wake.clear()


def _special(path: Path) -> bool:
    """A new entry that will never be closed after writing (symlink, FIFO, socket):
    reported on creation so it is quarantined rather than left unseen."""
    try:
        return not stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


async def _inotify_batches(
    root: Path, stop: asyncio.Event, accept: Accept
) -> AsyncIterator[list[Path]]:
    watcher = _Inotify(root)
    loop = asyncio.get_running_loop()
    loop.add_reader(watcher.fd.fileno(), watcher.wake.set)
    relay_task = asyncio.create_task(relay(stop, watcher.wake))
    try:
        yield _regular_files(watcher.watch_tree(root), accept, by_mtime=True)
        while not stop.is_set():
            await watcher.wait()
            if stop.is_set():
                return
            changed, rescan = watcher.drain()
            if rescan:
                changed = watcher.watch_tree(root)  # re-adding a watch is harmless
            yield _regular_files(changed, accept, by_mtime=rescan)
    finally:
        relay_task.cancel()
        loop.remove_reader(watcher.fd.fileno())
        watcher.fd.close()


def _tree(root: Path) -> list[Path]:
    return list(root.rglob("*"))


async def relay(source: asyncio.Event, target: asyncio.Event) -> None:
    """Set `target` once `source` is set (an outer stop reaching an inner loop)."""
    await source.wait()
    target.set()


async def _watchfiles_batches(
    root: Path, stop: asyncio.Event, accept: Accept
) -> AsyncIterator[list[Path]]:
    """Portable fallback: `watchfiles` (Rust notify), batched for a few milliseconds."""
    from watchfiles import Change, awatch

    scanned = False
    async for changes in awatch(
        root,
        watch_filter=None,
        debounce=20,
        step=1,
        rust_timeout=int(TICK_SECONDS * 1000),
        yield_on_timeout=True,
        stop_event=stop,
    ):
        if not scanned:
            scanned = True
            yield _regular_files(_tree(root), accept, by_mtime=True)
            continue
        paths = [Path(p) for change, p in changes if change != Change.deleted]
        yield _regular_files(paths, accept, by_mtime=True)
