"""The shared file watcher: first scan, atomic writes once, close-only reporting, new dirs."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from k8sclaw_protocol import ipc
from k8sclaw_sidecar import _watch

Backend = Callable[..., AsyncIterator[list[Path]]]
BACKENDS = [
    pytest.param(
        _watch._inotify_batches,
        id="inotify",
        marks=pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux only"),
    ),
    pytest.param(_watch._watchfiles_batches, id="watchfiles"),
]


class Seen:
    """Every batch the watcher yielded, with a way to wait for one path."""

    def __init__(self) -> None:
        self.batches: list[list[Path]] = []
        self.changed = asyncio.Condition()

    @property
    def paths(self) -> list[Path]:
        return [p for batch in self.batches for p in batch]

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), 10)


@asynccontextmanager
async def watching(root: Path, backend: Backend) -> AsyncIterator[Seen]:
    seen, stop = Seen(), asyncio.Event()
    started = asyncio.Event()

    async def consume() -> None:
        async for batch in backend(root, stop, lambda _: True):
            async with seen.changed:
                seen.batches.append(batch)
                seen.changed.notify_all()
            started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 10)  # the first scan: watches are in place
    try:
        yield seen
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_first_batch_scans_existing_files(tmp_path: Path, backend: Backend) -> None:
    (tmp_path / "sub").mkdir()
    old = ipc.write_atomic(tmp_path / "sub" / "old.json", b"{}")
    (tmp_path / "skip.json.tmp").write_bytes(b"partial")
    async with watching(tmp_path, backend) as seen:
        assert seen.batches[0] == [old]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_atomic_writes_are_reported_in_order_without_temp_files(
    tmp_path: Path, backend: Backend
) -> None:
    async with watching(tmp_path, backend) as seen:
        written = [ipc.write_atomic(tmp_path / f"stream-{i}.json", b"{}") for i in range(5)]
        await seen.until(lambda: set(written) <= set(seen.paths))
        assert not any(p.name.endswith(ipc.TMP_SUFFIX) for p in seen.paths)
    if backend is _watch._inotify_batches:
        assert seen.paths == written  # one event per rename, in kernel order


async def test_inotify_reports_a_file_only_when_its_writer_closes_it(tmp_path: Path) -> None:
    async with watching(tmp_path, _watch._inotify_batches) as seen:
        slow = tmp_path / "slow.json"
        with slow.open("wb") as f:
            f.write(b'{"half":')
            f.flush()
            marker = ipc.write_atomic(tmp_path / "marker.json", b"{}")
            await seen.until(lambda: marker in seen.paths)
            assert slow not in seen.paths  # a half-written file is never handed out
            f.write(b"1}")
        await seen.until(lambda: slow in seen.paths)
        assert seen.paths.count(slow) == 1


async def test_inotify_watches_new_directories_and_their_early_files(tmp_path: Path) -> None:
    async with watching(tmp_path, _watch._inotify_batches) as seen:
        nested = tmp_path / "a" / "b"
        nested.mkdir(parents=True)  # files may land before the watch on `b` exists
        early = ipc.write_atomic(nested / "early.json", b"{}")
        await seen.until(lambda: early in seen.paths)
        later = ipc.write_atomic(nested / "later.json", b"{}")
        await seen.until(lambda: later in seen.paths)


async def test_inotify_yields_idle_batches_and_stops(tmp_path: Path) -> None:
    async with watching(tmp_path, _watch._inotify_batches) as seen:
        await seen.until(lambda: len(seen.batches) >= 2)
        assert seen.batches[1] == []  # an idle tick


def test_inotify_queue_overflow_asks_for_a_rescan(tmp_path: Path) -> None:
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if limit > 20_000:
        pytest.skip(f"max_queued_events is {limit}; overflowing it would be slow")
    watcher = _watch._Inotify(tmp_path)
    try:
        assert watcher.watch_tree(tmp_path) == []
        for i in range(limit // 2 + 1):  # IN_CREATE + IN_CLOSE_WRITE each
            os.close(os.open(tmp_path / f"f{i}", os.O_CREAT | os.O_WRONLY))
        _, rescan = watcher.drain()
        assert rescan
        assert len(watcher.watch_tree(tmp_path)) == limit // 2 + 1  # what the rescan yields
    finally:
        watcher.fd.close()
