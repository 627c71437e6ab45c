"""`SqlStore`: the transcript store over either driver, and `open_store` that picks one.

Writes are idempotent: an event's primary key is its bus stream sequence and inserts
say `ON CONFLICT DO NOTHING`, so a batch redelivered after a crash stores nothing twice.
Per-run counts grow by the rows really inserted, in the same transaction (retention
recounts what it trims), so they stay true under redelivery and concurrent writers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from k8sclaw_controllers.transcripts import _driver, _interface, _migrate, _retention, _rows

_UPSERT_SESSION = (
    "INSERT INTO sessions (namespace, instance, session_key, created_ms, updated_ms)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, instance, session_key)"
    " DO UPDATE SET updated_ms = excluded.updated_ms"
)
# A run first seen after its AgentRun was gone is stored with empty fields; fill them in
# if a later lookup knows more.
_UPSERT_RUN = (
    "INSERT INTO runs (namespace, run, uid, instance, session_key, task, created_ms, updated_ms)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, run) DO UPDATE SET"
    " updated_ms = excluded.updated_ms,"
    " uid = CASE WHEN runs.uid = '' THEN excluded.uid ELSE runs.uid END,"
    " instance = CASE WHEN runs.instance = '' THEN excluded.instance ELSE runs.instance END,"
    " session_key = CASE WHEN runs.session_key = '' THEN excluded.session_key"
    " ELSE runs.session_key END,"
    " task = CASE WHEN runs.task = '' THEN excluded.task ELSE runs.task END"
)
_INSERT_EVENT = (
    "INSERT INTO events (seq, namespace, run, topic, kind, time_ms, data, recorded_ms, size_bytes)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING"
)
# Counts grow by what was really inserted, so a write costs O(batch) however long the run.
_BUMP_RUN = (
    "UPDATE runs SET event_count = event_count + ?,"
    " last_seq = CASE WHEN last_seq < ? THEN ? ELSE last_seq END"
    " WHERE namespace = ? AND run = ?"
)
_RUN_COLUMNS = (
    "namespace, run, instance, session_key, task, created_ms, updated_ms, event_count, last_seq"
)
_EVENT_COLUMNS = (
    "e.seq, e.namespace, r.instance, r.session_key, e.run, e.kind, e.topic, e.time_ms, e.data"
)
_SESSION_SELECT = (
    "SELECT s.namespace, s.instance, s.session_key, s.created_ms, s.updated_ms,"
    " (SELECT COUNT(*) FROM runs r WHERE r.namespace = s.namespace"
    "  AND r.instance = s.instance AND r.session_key = s.session_key)"
    " FROM sessions s WHERE s.namespace = ?"
)
# The newest runs of a session, each with its result/error rows (none while unanswered);
# `runs_by_session_created` and `events_by_run_kind` (migration 3) make it two index walks.
_NEWEST_RUNS = (
    "SELECT * FROM (SELECT session_key, run, created_ms, task FROM runs"
    " WHERE namespace = ? AND session_key = ? ORDER BY created_ms DESC, run DESC LIMIT ?) AS s{i}"
)
MAX_SESSIONS_PER_READ: Final = 64
"""Sessions one `exchanges` statement reads (each a LIMIT-bounded index range; SQLite
allows 500 terms in a compound SELECT)."""


def _exchanges_sql(sessions: int) -> str:
    """The newest runs of each session (one bounded index range per session, so a long
    chat costs no more than a short one) with their answers, in one statement."""
    newest = " UNION ALL ".join(_NEWEST_RUNS.format(i=i) for i in range(sessions))
    return (
        f"SELECT r.session_key, r.run, r.created_ms, r.task, e.kind, e.data FROM ({newest}) r"
        " LEFT JOIN events e ON e.namespace = ? AND e.run = r.run"
        " AND e.kind IN ('result', 'error')"
        " ORDER BY r.session_key, r.created_ms, r.run, e.seq"
    )


_EVENTS_FROM = "FROM events e JOIN runs r ON r.namespace = e.namespace AND r.run = e.run"


def now_ms() -> int:
    """The recorder's clock in milliseconds."""
    return int(time.time() * 1000)


async def _insert_events(
    tx: _driver.Tx, batch: Sequence[_rows.NewEvent], key: tuple[str, str], now: int
) -> int:
    """Insert the events of one run (skipping stored ones); returns how many were new."""
    mine = [e for e in batch if (e.namespace, e.run) == key]
    inserted = await tx.executemany(
        _INSERT_EVENT,
        [(e.seq, e.namespace, e.run, e.topic, e.kind, e.time_ms, e.data_json, now,
          len(e.data_json)) for e in mine],
    )  # fmt: skip
    if inserted:
        top = max(e.seq for e in mine)
        await tx.execute(_BUMP_RUN, (inserted, top, top, *key))
    return inserted


def _run_row(row: _driver.Row) -> _rows.RunRow:
    ns, run, instance, session, task, created, updated, count, last = row
    return _rows.RunRow(
        ns, run, instance, session, task, _rows.from_ms(created), _rows.from_ms(updated),
        int(count), int(last),
    )  # fmt: skip


def _load(data: str) -> Any:
    """Stored JSON: orjson for speed (a 10,000-event page), json for what orjson refuses
    (escaped lone surrogates, which agent output may contain)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _event_row(row: _driver.Row) -> _rows.EventRow:
    seq, ns, instance, session, run, kind, topic, time_ms, data = row
    return _rows.EventRow(
        int(seq), ns, instance, session, run, kind, topic, _rows.from_ms(time_ms), _load(data)
    )


def _session_row(row: _driver.Row) -> _rows.SessionRow:
    ns, instance, key, created, updated, runs = row
    return _rows.SessionRow(
        ns, instance, key, _rows.from_ms(created), _rows.from_ms(updated), int(runs)
    )


def _task_row(run: _rows.RunRow) -> _rows.EventRow:
    return _rows.EventRow(
        _rows.TASK_SEQ, run.namespace, run.instance, run.session, run.run, "task", "task",
        run.created, {"task": run.task},
    )  # fmt: skip


def answer_text(kind: str | None, data: Any) -> str | None:
    """The answer a `result` or `error` row carries (None for anything else or empty)."""
    if not isinstance(data, dict):
        return None
    if kind == "result":
        value = data.get("response") or data.get("error")
    elif kind == "error":
        value = data.get("error")
    else:
        return None
    return value if isinstance(value, str) and value else None


def _exchanges(rows: Sequence[_driver.Row]) -> dict[str, list[_rows.ExchangeRow]]:
    found: dict[str, dict[str, _rows.ExchangeRow]] = {}
    for session, run, created, task, kind, data in rows:
        answer = answer_text(kind, _load(data)) if data is not None else None
        runs = found.setdefault(session, {})
        known = runs.get(run)
        if known is None or answer is not None:  # the last answer of a run wins
            runs[run] = _rows.ExchangeRow(
                run, _rows.from_ms(created), task, answer or (known.answer if known else None)
            )
    return {session: list(runs.values()) for session, runs in found.items()}


def _limit(limit: int) -> int:
    return min(max(limit, 1), _interface.MAX_PAGE)


class SqlStore:
    """The transcript store (`TranscriptStore`) on a migrated database."""

    def __init__(self, driver: _driver.Driver) -> None:
        self.driver = driver

    async def record(
        self, batch: Sequence[_rows.NewEvent], runs: Mapping[tuple[str, str], _rows.RunInfo]
    ) -> int:
        if not batch:
            return 0
        now = now_ms()
        keys = sorted({(e.namespace, e.run) for e in batch})
        infos = {key: runs.get(key, _rows.UNKNOWN_RUN) for key in keys}
        sessions = sorted(
            {(ns, i.instance, i.session_key) for (ns, _), i in infos.items() if i.session_key}
        )
        async with self.driver.transaction(write=True) as tx:
            await tx.executemany(_UPSERT_SESSION, [(*s, now, now) for s in sessions])
            await tx.executemany(
                _UPSERT_RUN,
                [(ns, run, i.uid, i.instance, i.session_key, _rows.cap_text(i.task), now, now)
                 for (ns, run), i in infos.items()],
            )  # fmt: skip
            return sum([await _insert_events(tx, batch, key, now) for key in keys])

    async def _run(self, tx: _driver.Tx, namespace: str, run: str) -> _rows.RunRow | None:
        rows = await tx.fetch(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE namespace = ? AND run = ?", (namespace, run)
        )
        return _run_row(rows[0]) if rows else None

    async def transcript(
        self,
        namespace: str,
        run: str,
        after: int | None = None,
        limit: int = _interface.DEFAULT_PAGE,
    ) -> _rows.TranscriptPage:
        limit = _limit(limit)
        async with self.driver.transaction() as tx:
            run_row = await self._run(tx, namespace, run)
            if run_row is None:
                return _rows.TranscriptPage(None, [], None)
            head = [_task_row(run_row)] if after is None else []
            rows = await tx.fetch(
                f"SELECT {_EVENT_COLUMNS} {_EVENTS_FROM}"
                " WHERE e.namespace = ? AND e.run = ? AND e.seq > ? ORDER BY e.seq LIMIT ?",
                (namespace, run, _rows.TASK_SEQ if after is None else after, limit - len(head)),
            )
        page = head + [_event_row(r) for r in rows]
        return _rows.TranscriptPage(run_row, page, page[-1].seq if len(page) == limit else None)

    async def runs(
        self, namespace: str, instance: str | None = None, session: str | None = None
    ) -> list[_rows.RunRow]:
        sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE namespace = ?"
        params: list[str] = [namespace]
        if instance is not None:
            sql, params = sql + " AND instance = ?", [*params, instance]
        if session is not None:
            sql, params = sql + " AND session_key = ?", [*params, session]
        rows = await self.driver.fetch(sql + " ORDER BY created_ms, run", params)
        return [_run_row(r) for r in rows]

    async def sessions(self, namespace: str, instance: str | None = None) -> list[_rows.SessionRow]:
        sql = _SESSION_SELECT
        params = [namespace] if instance is None else [namespace, instance]
        if instance is not None:
            sql += " AND s.instance = ?"
        rows = await self.driver.fetch(sql + " ORDER BY s.updated_ms DESC, s.session_key", params)
        return [_session_row(row) for row in rows]

    async def session(
        self,
        namespace: str,
        key: str,
        after: int | None = None,
        limit: int = _interface.DEFAULT_PAGE,
    ) -> _rows.SessionDetail | None:
        limit = _limit(limit)
        async with self.driver.transaction() as tx:
            found = await tx.fetch(
                f"{_SESSION_SELECT} AND s.session_key = ? ORDER BY s.updated_ms DESC",
                (namespace, key),
            )
            if not found:
                return None
            rows = await tx.fetch(
                f"SELECT {_EVENT_COLUMNS} {_EVENTS_FROM} WHERE r.namespace = ?"
                " AND r.session_key = ? AND e.seq > ? ORDER BY e.seq LIMIT ?",
                (namespace, key, after or 0, limit),
            )
        runs = await self.runs(namespace, session=key)
        events = [_event_row(r) for r in rows]
        next_after = events[-1].seq if len(events) == limit else None
        return _rows.SessionDetail(_session_row(found[0]), runs, events, next_after)

    async def exchanges(
        self, namespace: str, sessions: Sequence[str], limit: int = _interface.MAX_EXCHANGES
    ) -> dict[str, list[_rows.ExchangeRow]]:
        limit = min(max(limit, 1), _interface.MAX_EXCHANGES)
        wanted = list(dict.fromkeys(sessions))
        found: dict[str, list[_rows.ExchangeRow]] = {}
        for start in range(0, len(wanted), MAX_SESSIONS_PER_READ):
            chunk = wanted[start : start + MAX_SESSIONS_PER_READ]
            params = [p for session in chunk for p in (namespace, session, limit)]
            rows = await self.driver.fetch(_exchanges_sql(len(chunk)), [*params, namespace])
            found.update(_exchanges(rows))
        return {session: found.get(session, []) for session in wanted}

    async def sweep(
        self, policy: _rows.RetentionPolicy, now_ms: int | None = None
    ) -> _rows.SweepResult:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return await _retention.sweep(self.driver, policy, now)

    async def schema_version(self) -> int:
        async with self.driver.transaction() as tx:
            return await _migrate.current_version(tx)

    async def close(self) -> None:
        await self.driver.close()


async def open_store(
    database_url: str | None, data_dir: Path | None = None, *, migrate: bool = True
) -> SqlStore:
    """PostgreSQL at `database_url` when set, else SQLite `transcripts.db` in `data_dir`;
    migrated to the latest shipped schema unless `migrate` is False."""
    driver: _driver.Driver
    if database_url:
        from k8sclaw_controllers.transcripts._postgres import PostgresDriver

        driver = await PostgresDriver.connect(database_url)
    else:
        if data_dir is None:
            raise _interface.StoreError("no DATABASE_URL and no --data-dir for the SQLite file")
        from k8sclaw_controllers.transcripts._sqlite import SqliteDriver

        driver = SqliteDriver(data_dir / "transcripts.db")
    if migrate:
        try:
            await _migrate.migrate(driver)
        except BaseException:
            await driver.close()
            raise
    return SqlStore(driver)


def _conforms(store: SqlStore) -> _interface.TranscriptStore:
    """Never called: makes mypy prove that SqlStore implements the interface."""
    return store
