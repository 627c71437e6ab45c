"""The store on both backends: idempotent writes, ordered pages, sessions, caps."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

from k8sclaw_controllers import transcripts
from k8sclaw_controllers.transcripts import _store
from k8sclaw_protocol import events
from tests.controllers.transcripts._helpers import info, new_event, opened


async def test_a_batch_recorded_twice_is_stored_once(store_url: str | None, tmp_path: Path) -> None:
    async with opened(store_url, tmp_path) as store:
        batch = [new_event(s) for s in (3, 1, 2)]
        runs = {("team-a", "run-1"): info()}
        assert await store.record(batch, runs) == 3
        assert await store.record([*batch, new_event(4)], runs) == 1
        page = await store.transcript("team-a", "run-1")
    assert [e.seq for e in page.events] == [0, 1, 2, 3, 4]
    assert page.events[0].kind == "task" and page.events[0].data == {"task": "do it"}
    assert page.events[1].data == {"type": "text", "content": "piece 1", "index": 1}
    assert {(e.instance, e.session) for e in page.events} == {("alpha", "s-1")}
    assert page.run is not None and page.run.event_count == 4 and page.run.last_seq == 4
    assert page.next_after is None


async def test_pages_follow_the_sequence_without_gaps_or_overlap(
    store_url: str | None, tmp_path: Path
) -> None:
    async with opened(store_url, tmp_path) as store:
        await store.record([new_event(s) for s in range(1, 12)], {("team-a", "run-1"): info()})
        await store.record([new_event(50, run="other")], {("team-a", "other"): info()})
        seen, after = [], None
        while True:
            page = await store.transcript("team-a", "run-1", after=after, limit=4)
            seen += [e.seq for e in page.events]
            if page.next_after is None:
                break
            after = page.next_after
    assert seen == list(range(12))


async def test_unknown_run_has_no_transcript_and_namespaces_do_not_mix(
    store_url: str | None, tmp_path: Path
) -> None:
    async with opened(store_url, tmp_path) as store:
        await store.record([new_event(1, namespace="team-b")], {("team-b", "run-1"): info()})
        page = await store.transcript("team-a", "run-1")
        assert page.run is None and page.events == []
        assert await store.runs("team-a") == []
        assert [r.run for r in await store.runs("team-b")] == ["run-1"]


async def test_sessions_group_runs_and_list_their_events(
    store_url: str | None, tmp_path: Path
) -> None:
    async with opened(store_url, tmp_path) as store:
        await store.record(
            [new_event(1, run="r1"), new_event(2, run="r2"), new_event(3, run="r3")],
            {
                ("team-a", "r1"): info(session="chat-1", task="first"),
                ("team-a", "r2"): info(session="chat-1", task="second"),
                ("team-a", "r3"): info(instance="beta", session="chat-2"),
            },
        )
        sessions = await store.sessions("team-a")
        beta = await store.sessions("team-a", instance="beta")
        detail = await store.session("team-a", "chat-1")
        missing = await store.session("team-a", "nope")
    assert sorted((s.instance, s.key, s.run_count) for s in sessions) == [
        ("alpha", "chat-1", 2),
        ("beta", "chat-2", 1),
    ]
    assert [s.key for s in beta] == ["chat-2"]
    assert detail is not None and [r.task for r in detail.runs] == ["first", "second"]
    assert [(e.run, e.seq) for e in detail.events] == [("r1", 1), ("r2", 2)]
    assert missing is None


async def test_a_run_first_seen_unknown_is_filled_in_later(
    store_url: str | None, tmp_path: Path
) -> None:
    async with opened(store_url, tmp_path) as store:
        await store.record([new_event(1)], {})
        await store.record([new_event(2)], {("team-a", "run-1"): info(task="late")})
        page = await store.transcript("team-a", "run-1")
    assert page.run is not None and (page.run.instance, page.run.task) == ("alpha", "late")


async def test_hostile_text_is_stored_safely(store_url: str | None, tmp_path: Path) -> None:
    big = {"type": "text", "content": "x" * (transcripts.DATA_CAP + 10), "index": 0}
    nul = {"type": "text", "content": "a\x00b\ud800", "index": 1}
    async with opened(store_url, tmp_path) as store:
        rows = [
            transcripts.to_new_event(_delivered(big, 1), 0),
            transcripts.to_new_event(_delivered(nul, 2), 0),
        ]
        await store.record([r for r in rows if r], {("team-a", "run-1"): info(task="t\x00ask")})
        page = await store.transcript("team-a", "run-1")
    assert page.events[0].data == {"task": "task"}
    assert page.events[1].data["truncated"] is True
    assert page.events[1].data["bytes"] > transcripts.DATA_CAP
    assert page.events[2].data["content"] == "a\x00b\ud800"


def _delivered(data: object, seq: int) -> events.Event:
    subject = events.scoped_subject(events.AGENT_STREAM_CHUNK, "team-a", "run-1")
    return events.Event.new(events.AGENT_STREAM_CHUNK, data).delivered(subject, seq)


async def test_concurrent_overlapping_writers_store_each_event_once(
    store_url: str | None, tmp_path: Path
) -> None:
    """Replicas share the durable consumer, and redeliveries overlap: writers racing on the
    same runs, in any order, must neither deadlock nor miscount."""
    runs = {("team-a", f"r{i}"): info(session=f"s{i % 2}") for i in range(3)}
    everything = [new_event(seq, run=f"r{seq % 3}") for seq in range(1, 241)]
    rng = random.Random(15)
    # Unsorted batches overlapping each other, then one with whatever the others missed.
    batches = [rng.sample(everything, 30) for _ in range(24)] + [everything]
    async with opened(store_url, tmp_path) as store:
        inserted = await asyncio.gather(*(store.record(b, runs) for b in batches))
        listed = await store.runs("team-a")
        pages = [await store.transcript("team-a", f"r{i}", limit=1000) for i in range(3)]
    assert sum(inserted) == 240
    assert [(r.run, r.event_count) for r in listed] == [("r0", 80), ("r1", 80), ("r2", 80)]
    for i, page in enumerate(pages):
        seqs = [e.seq for e in page.events[1:]]
        assert seqs == [s for s in range(1, 241) if s % 3 == i]
        assert page.run is not None and page.run.last_seq == max(seqs)


def _answer(seq: int, run: str, kind: transcripts.Kind, data: object) -> transcripts.NewEvent:
    return transcripts.NewEvent(
        seq=seq, namespace="team-a", run=run, kind=kind,
        topic=events.AGENT_RUN_COMPLETED if kind == "result" else events.AGENT_RUN_FAILED,
        time_ms=1_700_000_000_000 + seq, data_json=json.dumps(data),
    )  # fmt: skip


async def test_exchanges_are_the_newest_runs_of_a_session_with_their_answers(
    store_url: str | None, tmp_path: Path
) -> None:
    async with opened(store_url, tmp_path) as store:
        seq = 0
        for i in range(40):
            run = f"r{i:02d}"
            seq += 1
            chunks = [new_event(seq + k, run=run) for k in range(3)]
            seq += 3
            if i == 38:
                tail = [_answer(seq, run, "error", {"error": "model down"})]
            elif i == 39:
                tail = []  # still running: no answer yet
            else:
                tail = [_answer(seq, run, "result", {"status": "success", "response": f"a{i}"})]
            await store.record([*chunks, *tail], {("team-a", run): info(task=f"t{i}")})
        # Same session key elsewhere and another session here: neither leaks in.
        await store.record([new_event(900, run="x", namespace="team-b")], {("team-b", "x"): info()})
        await store.record([new_event(901, run="y")], {("team-a", "y"): info(session="s-2")})
        got = (await store.exchanges("team-a", ["s-1"]))["s-1"]
        small = (await store.exchanges("team-a", ["s-1"], limit=2))["s-1"]
        both = await store.exchanges("team-a", ["nope", "s-2", "s-1", "s-1"])
    assert [e.run for e in got] == [f"r{i:02d}" for i in range(8, 40)]
    assert got[0].task == "t8" and got[0].answer == "a8"
    assert got[-2].answer == "model down" and got[-1].answer is None
    assert [e.run for e in small] == ["r38", "r39"]
    assert list(both) == ["nope", "s-2", "s-1"] and both["nope"] == []
    assert [e.run for e in both["s-2"]] == ["y"] and both["s-1"] == got


async def test_the_exchange_query_uses_the_turn_indexes(tmp_path: Path) -> None:
    async with opened(None, tmp_path) as store, store.driver.transaction() as tx:
        params = ("team-a", "s-1", 32, "team-a", "s-2", 32, "team-a")
        plan = await tx.fetch("EXPLAIN QUERY PLAN " + _store._exchanges_sql(2), params)
    details = [str(row[-1]) for row in plan]
    # Each session is its own bounded range of the turn index: no scan of the runs.
    assert sum("runs_by_session_created" in d for d in details) == 2, details
    assert any("events_by_run_kind" in d for d in details), details
    assert not any(d.startswith("SCAN runs") for d in details), details
