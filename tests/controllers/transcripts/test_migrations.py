"""Shipped migrations: an older schema holding data is migrated forward keeping every row;
concurrent starters migrate once; a database newer than the build is refused."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from k8sclaw_controllers import transcripts
from k8sclaw_controllers.transcripts import _migrate
from tests.controllers.transcripts._helpers import opened

V1_RUN = (
    "INSERT INTO runs (namespace, run, uid, instance, session_key, task, created_ms, updated_ms,"
    " event_count, last_seq) VALUES (?, ?, '', 'alpha', 's-1', ?, 1000, 2000, ?, ?)"
)
V1_EVENT = (
    "INSERT INTO events (seq, namespace, run, topic, kind, time_ms, data)"
    " VALUES (?, 'team-a', ?, 'agent.stream.chunk', 'text', ?, ?)"
)


async def _fill_v1(store: transcripts.SqlStore) -> None:
    """Rows written the way a v1 build wrote them (no v2 columns exist yet)."""
    async with store.driver.transaction(write=True) as tx:
        await tx.execute("INSERT INTO sessions VALUES ('team-a', 'alpha', 's-1', 1000, 2000)")
        await tx.executemany(
            V1_RUN, [("team-a", f"r{i}", f"task {i}", 50, i * 50 + 50) for i in range(3)]
        )
        await tx.executemany(
            V1_EVENT,
            [
                (seq, f"r{(seq - 1) // 50}", 5000 + seq, f'{{"n": {seq}, "t": "\\u00e9"}}')
                for seq in range(1, 151)
            ],
        )


async def test_v1_database_with_rows_is_migrated_keeping_every_row(
    store_url: str | None, tmp_path: Path
) -> None:
    async with opened(store_url, tmp_path, migrate=False) as old:
        assert await _migrate.migrate(old.driver, target=1) == 1
        await _fill_v1(old)
    async with opened(store_url, tmp_path) as store:
        assert (
            await store.schema_version()
            == transcripts.latest_schema_version(store.driver.dialect)
            == 3
        )
        runs = await store.runs("team-a")
        pages = [await store.transcript("team-a", f"r{i}", limit=1000) for i in range(3)]
        sessions = await store.sessions("team-a")
        exchanges = (await store.exchanges("team-a", ["s-1"]))["s-1"]
        async with store.driver.transaction() as tx:
            extra = await tx.fetch("SELECT seq, recorded_ms, size_bytes FROM events ORDER BY seq")
            catalog = (
                "SELECT name FROM sqlite_master WHERE type = 'index'"
                if store.driver.dialect == "sqlite"
                else "SELECT indexname FROM pg_indexes"
            )
            indexes = {str(row[0]) for row in await tx.fetch(catalog)}
    assert [(r.run, r.task, r.event_count) for r in runs] == [
        (f"r{i}", f"task {i}", 50) for i in range(3)
    ]
    seqs = [e.seq for page in pages for e in page.events if e.kind != "task"]
    assert seqs == list(range(1, 151))
    assert pages[1].events[1].data == {"n": 51, "t": "é"}
    assert [(s.key, s.run_count) for s in sessions] == [("s-1", 3)]
    # v2 backfilled its columns from the v1 rows.
    assert extra[0][1:] == (5001, len('{"n": 1, "t": "\\u00e9"}'))
    assert all(recorded == 5000 + seq for seq, recorded, _ in extra)
    assert {"runs_by_session_created", "events_by_run_kind"} <= indexes
    # v3 indexed the turns: the v1 runs read as exchanges (no answers were recorded).
    assert [(e.run, e.task, e.answer) for e in exchanges] == [
        (f"r{i}", f"task {i}", None) for i in range(3)
    ]


async def test_migrations_ship_as_package_data_for_both_dialects() -> None:
    for dialect in ("sqlite", "postgres"):
        shipped = _migrate.shipped(dialect)
        assert [m.version for m in shipped] == [1, 2, 3]
        assert all(m.statements() for m in shipped)


async def test_concurrent_starters_migrate_once(store_url: str | None, tmp_path: Path) -> None:
    stores = await asyncio.gather(*(transcripts.open_store(store_url, tmp_path) for _ in range(3)))
    try:
        async with stores[0].driver.transaction() as tx:
            rows = await tx.fetch("SELECT version FROM schema_version ORDER BY version")
    finally:
        for store in stores:
            await store.close()
    assert rows == [(1,), (2,), (3,)]


async def test_a_database_newer_than_the_build_is_refused(
    store_url: str | None, tmp_path: Path
) -> None:
    async with opened(store_url, tmp_path) as store, store.driver.transaction(write=True) as tx:
        await tx.execute("INSERT INTO schema_version VALUES (99, '0099_future.sql', 0)")
    with pytest.raises(transcripts.StoreError, match="schema version 99"):
        await transcripts.open_store(store_url, tmp_path)


async def test_a_sqlite_starter_waits_for_another_process_holding_the_fresh_file(
    tmp_path: Path,
) -> None:
    """A starter switching a fresh file to WAL while another process holds its write lock
    gets "database is locked" at once from SQLite (no busy wait); it must wait instead."""
    other = sqlite3.connect(tmp_path / "transcripts.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("CREATE TABLE held (x INTEGER)")
        starting = asyncio.create_task(transcripts.open_store(None, tmp_path))
        await asyncio.sleep(0.3)
        assert not starting.done()  # waiting, not failed
        other.execute("COMMIT")
        store = await asyncio.wait_for(starting, 30)
    finally:
        other.close()
    try:
        assert await store.schema_version() == transcripts.latest_schema_version("sqlite")
    finally:
        await store.close()
