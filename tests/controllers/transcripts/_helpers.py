"""Shared pieces of the transcript tests: open a store on either backend, build rows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from k8sclaw_controllers import transcripts
from k8sclaw_protocol import Event, EventBus, events

BACKENDS = ["sqlite", "postgres"]


def url_for(backend: str, request: Any) -> str | None:
    """The DATABASE_URL of a backend (the per-test PostgreSQL database, or None for SQLite)."""
    return str(request.getfixturevalue("postgres")) if backend == "postgres" else None


@asynccontextmanager
async def opened(
    url: str | None, data_dir: Path, *, migrate: bool = True
) -> AsyncIterator[transcripts.SqlStore]:
    store = await transcripts.open_store(url, data_dir, migrate=migrate)
    try:
        yield store
    finally:
        await store.close()


def new_event(
    seq: int, run: str = "run-1", namespace: str = "team-a", data: Any = None, topic: str = ""
) -> transcripts.NewEvent:
    topic = topic or events.AGENT_STREAM_CHUNK
    data = {"type": "text", "content": f"piece {seq}", "index": seq} if data is None else data
    return transcripts.NewEvent(
        seq=seq, namespace=namespace, run=run, topic=topic, kind="text",
        time_ms=1_700_000_000_000 + seq, data_json=json.dumps(data),
    )  # fmt: skip


def info(instance: str = "alpha", session: str = "s-1", task: str = "do it") -> transcripts.RunInfo:
    return transcripts.RunInfo(instance=instance, session_key=session, task=task)


Item = tuple[str, str, str, Any]
"""(topic, namespace, run, data) of an event about a run."""


async def publish_scoped(
    bus: EventBus, items: Sequence[Item], meta: dict[str, str] | None = None
) -> list[int]:
    """Publish each item on its run's scoped subject `k8sclaw.<topic>.<ns>.<run>`, pipelined
    and in order; returns the stream sequences. The one place these tests know how the bus
    API is told a subject's scope."""
    return await bus.publish_many(
        [
            (Event.new(events.scoped_filter(t, ns, run), data, meta), None)
            for t, ns, run, data in items
        ]
    )
