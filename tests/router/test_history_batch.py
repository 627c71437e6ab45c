"""Overlapping history reads become one store statement per namespace (`BatchedReads`),
with the same answers as reading each session alone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from k8sclaw_controllers import transcripts
from k8sclaw_controllers.router._history import BatchedReads, conversation_history
from k8sclaw_protocol import events


class Counting:
    """A store whose `exchanges` calls are counted (and can be made to fail)."""

    def __init__(self, store: transcripts.SqlStore) -> None:
        self.store, self.fail = store, False
        self.calls: list[tuple[str, list[str]]] = []

    async def exchanges(
        self, namespace: str, sessions: Sequence[str], limit: int = transcripts.MAX_EXCHANGES
    ) -> dict[str, list[transcripts.ExchangeRow]]:
        self.calls.append((namespace, list(sessions)))
        if self.fail:
            raise transcripts.StoreError("database is down")
        return await self.store.exchanges(namespace, sessions, limit)


async def _filled(tmp_path: Path) -> transcripts.SqlStore:
    """Sessions s-0..s-79 in two namespaces, each with one answered run."""
    store = await transcripts.open_store(None, tmp_path)
    seq = 0
    for ns in ("team-a", "team-b"):
        for i in range(80):
            seq += 1
            run = f"{ns}-r{i}"
            info = transcripts.RunInfo("alpha", f"s-{i}", f"task {ns} {i}")
            data = json.dumps({"status": "success", "response": f"answer {ns} {i}"})
            done = transcripts.NewEvent(
                seq, ns, run, events.AGENT_RUN_COMPLETED, "result", 1_700_000_000_000 + seq, data
            )
            await store.record([done], {(ns, run): info})
    return store


@asynccontextmanager
async def _batched(
    tmp_path: Path,
) -> AsyncIterator[tuple[transcripts.SqlStore, Counting, BatchedReads]]:
    """The filled store, its counting wrapper, and the batched reader over that."""
    store = await _filled(tmp_path)
    try:
        counting = Counting(store)
        yield store, counting, BatchedReads(counting)
    finally:
        await store.close()


async def test_a_burst_of_reads_is_a_few_statements_with_the_same_answers(
    tmp_path: Path,
) -> None:
    async with _batched(tmp_path) as (store, counting, reads):
        asks = [(ns, f"s-{i}") for ns in ("team-a", "team-b") for i in range(80)]
        got = await asyncio.gather(*(reads.exchanges(ns, [s]) for ns, s in asks))
        alone = [await store.exchanges(ns, [s]) for ns, s in asks]
    assert got == alone
    assert [row.answer for row in got[81]["s-1"]] == ["answer team-b 1"]
    # 160 reads at once: one statement per namespace (the first), then the rest together.
    assert len(counting.calls) <= 4, counting.calls
    assert {ns for ns, _ in counting.calls} == {"team-a", "team-b"}
    assert sorted(s for ns, batch in counting.calls if ns == "team-a" for s in batch) == sorted(
        f"s-{i}" for i in range(80)
    )


async def test_a_failed_statement_fails_its_callers_and_the_next_read_works(
    tmp_path: Path,
) -> None:
    async with _batched(tmp_path) as (_, counting, reads):
        counting.fail = True
        failed = await asyncio.gather(
            *(reads.exchanges("team-a", [f"s-{i}"]) for i in range(5)), return_exceptions=True
        )
        counting.fail = False
        later = await reads.exchanges("team-a", ["s-3"])
        turns = await conversation_history(reads, "team-a", "s-4", [])
    assert all(isinstance(f, transcripts.StoreError) for f in failed), failed
    assert [row.task for row in later["s-3"]] == ["task team-a 3"]
    assert [t.text for t in turns] == ["task team-a 4", "answer team-a 4"]


async def test_a_cancelled_reader_does_not_cancel_the_others(tmp_path: Path) -> None:
    async with _batched(tmp_path) as (_, _, reads):
        quitter = asyncio.create_task(reads.exchanges("team-a", ["s-1"]))
        stayer = asyncio.create_task(reads.exchanges("team-a", ["s-1", "s-2"]))
        await asyncio.sleep(0)
        quitter.cancel()
        got = await stayer
    with pytest.raises(asyncio.CancelledError):
        await quitter
    assert [row.task for row in got["s-1"]] == ["task team-a 1"]
    assert [row.task for row in got["s-2"]] == ["task team-a 2"]
