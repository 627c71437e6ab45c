"""The prior turns of a conversation, for the next run's `spec.history`.

Read from the transcript store (every run's task and its result or error, recorded by
the API server's recorder), topped up from the runs the router watches: the previous run
finished a moment ago, and the recorder may not have stored its result yet. The newest
turns are kept within `MAX_HISTORY_TURNS` and `MAX_HISTORY_BYTES`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from k8sclaw_controllers.transcripts import MAX_PAGE, TranscriptStore
from k8sclaw_protocol import AgentRun, HistoryTurn, cap_history

log = logging.getLogger("k8sclaw.router")

MAX_PAGES: Final = 20
"""Most store pages read for one history (a very long session keeps its newest turns
through the runs the router watches)."""


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


async def conversation_history(
    store: TranscriptStore | None,
    namespace: str,
    session_key: str,
    watched: Iterable[AgentRun],
) -> list[HistoryTurn]:
    """Turns of `session_key` (oldest first): each earlier run's task, then its answer."""
    exchanges: dict[str, _Exchange] = {}
    if store is not None:
        try:
            await _from_store(store, namespace, session_key, exchanges)
        except Exception as exc:  # the store is optional context: a run still starts
            log.warning(
                "history of session %s unavailable (%s); using watched runs", session_key, exc
            )
    for run in watched:
        _from_run(run, exchanges)
    turns: list[HistoryTurn] = []
    for exchange in sorted(exchanges.values(), key=lambda e: e.created):
        if exchange.answer is None:
            continue  # unanswered (still running, or lost): not a turn the model should see
        turns.append(HistoryTurn(role="user", text=exchange.task))
        turns.append(HistoryTurn(role="assistant", text=exchange.answer))
    return cap_history(turns)


async def _from_store(
    store: TranscriptStore, namespace: str, session_key: str, into: dict[str, _Exchange]
) -> None:
    after: int | None = None
    for _ in range(MAX_PAGES):
        detail = await store.session(namespace, session_key, after=after, limit=MAX_PAGE)
        if detail is None:
            return
        if after is None:
            for row in detail.runs:
                into.setdefault(row.run, _Exchange(created=row.created, task=row.task))
        for event in detail.events:
            exchange = into.get(event.run)
            text = _answer_text(event.kind, event.data)
            if exchange is not None and text is not None:
                exchange.answer = text
        if detail.next_after is None:
            return
        after = detail.next_after


def _answer_text(kind: str, data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    if kind == "result":
        value = data.get("response") or data.get("error")
    elif kind == "error":
        value = data.get("error")
    else:
        return None
    return value if isinstance(value, str) and value else None


def _from_run(run: AgentRun, into: dict[str, _Exchange]) -> None:
    created = run.metadata.creation_timestamp
    if created is None:
        return
    exchange = into.setdefault(run.name, _Exchange(created=created, task=run.spec.task))
    if exchange.answer is None:
        exchange.answer = answer_of(run)
