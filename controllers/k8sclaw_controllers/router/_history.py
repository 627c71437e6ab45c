"""The prior turns of a conversation, for the next run's `spec.history`.

The first message of a conversation the router has not seen since it started reads the
transcript store once (`TranscriptStore.exchanges`: the newest runs of the session with
their task and result or error). Reads that overlap are one statement (`BatchedReads`):
a burst of new conversations costs a query per 64 of them, not one each. From then on
the router keeps the conversation's exchanges in memory (`HistoryCache`), updated from
the runs it watches as they finish, so later messages read nothing: the previous run
finished a moment ago and the recorder may not even have stored its result yet. The
newest turns are kept within `MAX_HISTORY_TURNS` and `MAX_HISTORY_BYTES`; the cache holds
at most `CACHED_CONVERSATIONS` conversations (least recently used dropped; a dropped one
is read from the store again).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from k8sclaw_controllers.transcripts import MAX_EXCHANGES, ExchangeRow
from k8sclaw_protocol import AgentRun, HistoryTurn, cap_history
from k8sclaw_protocol._agentrun import MAX_HISTORY_BYTES

log = logging.getLogger("k8sclaw.router")

CACHED_CONVERSATIONS: Final = 1024
"""Conversations whose exchanges the router keeps in memory (each capped like a history)."""

SessionId = tuple[str, str]
"""(namespace, session key)."""


@dataclass
class _Exchange:
    created: datetime
    task: str
    answer: str | None = None


def answer_of(run: AgentRun) -> str | None:
    """What the agent said in a finished run: its result, else its error."""
    status = run.status
    if status is None or not run.is_terminal:
        return None
    return status.result or status.error or None


class ExchangeReader(Protocol):
    """Where earlier exchanges are read: a `TranscriptStore`, or `BatchedReads` over one."""

    async def exchanges(
        self, namespace: str, sessions: Sequence[str], limit: int = MAX_EXCHANGES
    ) -> dict[str, list[ExchangeRow]]: ...


class BatchedReads:
    """Overlapping history reads as one store statement per namespace.

    While one read is in flight the next requests gather, and go together when it
    returns (group commit, for reads): one message costs one query as before, and 100 new
    conversations at once cost a handful instead of 100 round trips through the store.
    """

    def __init__(self, store: ExchangeReader) -> None:
        self._store = store
        self._pending: dict[str, dict[str, asyncio.Future[list[ExchangeRow]]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def exchanges(
        self, namespace: str, sessions: Sequence[str], limit: int = MAX_EXCHANGES
    ) -> dict[str, list[ExchangeRow]]:
        if limit != MAX_EXCHANGES:  # batches share one limit: read anything else alone
            return await self._store.exchanges(namespace, sessions, limit)
        loop = asyncio.get_running_loop()
        batch = self._pending.setdefault(namespace, {})
        futures = {s: batch.get(s) or batch.setdefault(s, loop.create_future()) for s in sessions}
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())
        return {s: await asyncio.shield(f) for s, f in futures.items()}

    async def _read(self) -> None:
        await asyncio.sleep(0)  # callers of this same moment join the first statement
        while self._pending:
            namespace = next(iter(self._pending))
            batch = self._pending.pop(namespace)
            try:
                found = await self._store.exchanges(namespace, list(batch))
            except Exception as exc:
                for future in batch.values():
                    if not future.done():
                        future.set_exception(exc)
                        future.exception()  # a caller cancelled meanwhile must not warn
                continue
            for session, future in batch.items():
                if not future.done():
                    future.set_result(found.get(session, []))


class HistoryCache:
    """Exchanges (run name -> task and answer) of recently active conversations."""

    def __init__(self, size: int = CACHED_CONVERSATIONS) -> None:
        self._size = size
        self._entries: OrderedDict[SessionId, dict[str, _Exchange]] = OrderedDict()
        self.store_reads = 0
        """How many histories were read from the store (the rest came from memory)."""

    def get(self, session: SessionId) -> dict[str, _Exchange] | None:
        entry = self._entries.get(session)
        if entry is not None:
            self._entries.move_to_end(session)
        return entry

    def put(self, session: SessionId, exchanges: dict[str, _Exchange]) -> None:
        self._entries[session] = exchanges
        self._entries.move_to_end(session)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def note(self, run: AgentRun) -> None:
        """Record a watched run of a cached conversation (kept after the run is deleted)."""
        entry = self._entries.get((run.namespace, run.spec.session_key))
        if entry is not None:
            _from_run(run, entry)


async def conversation_history(
    store: ExchangeReader | None,
    namespace: str,
    session_key: str,
    watched: Iterable[AgentRun],
    cache: HistoryCache | None = None,
) -> list[HistoryTurn]:
    """Turns of `session_key` (oldest first): each earlier run's task, then its answer."""
    session = (namespace, session_key)
    cached = cache.get(session) if cache is not None else None
    exchanges: dict[str, _Exchange] = dict(cached) if cached is not None else {}
    complete = cached is not None or store is None
    if cached is None and store is not None:
        if cache is not None:
            cache.store_reads += 1
        try:
            found = await store.exchanges(namespace, [session_key], MAX_EXCHANGES)
            for row in found[session_key]:
                exchanges[row.run] = _Exchange(row.created, row.task, row.answer)
            complete = True
        except Exception as exc:  # the store is optional context: a run still starts
            log.warning(
                "history of session %s unavailable (%s); using watched runs", session_key, exc
            )
    for run in watched:
        _from_run(run, exchanges)
    ordered = sorted(exchanges.items(), key=lambda item: item[1].created)
    turns: list[HistoryTurn] = []
    for _, exchange in ordered:
        if exchange.answer is None:
            continue  # unanswered (still running, or lost): not a turn the model should see
        turns.append(HistoryTurn(role="user", text=exchange.task))
        turns.append(HistoryTurn(role="assistant", text=exchange.answer))
    if cache is not None and complete:  # a failed read is tried again next time
        cache.put(session, _newest(ordered))
    return cap_history(turns)


def _newest(ordered: list[tuple[str, _Exchange]]) -> dict[str, _Exchange]:
    """The exchanges a history can still use: the newest ones up to the byte cap (the one
    crossing it included, a history may keep its end), and any not answered yet."""
    kept: list[tuple[str, _Exchange]] = []
    room = MAX_HISTORY_BYTES
    for name, exchange in reversed(ordered[-MAX_EXCHANGES:]):
        if exchange.answer is None:
            kept.append((name, exchange))
            continue
        if room <= 0:
            break
        kept.append((name, exchange))
        room -= len(exchange.task.encode()) + len(exchange.answer.encode())
    return dict(reversed(kept))


def _from_run(run: AgentRun, into: dict[str, _Exchange]) -> None:
    created = run.metadata.creation_timestamp
    if created is None:
        return
    exchange = into.setdefault(run.name, _Exchange(created=created, task=run.spec.task))
    if exchange.answer is None:
        exchange.answer = answer_of(run)
