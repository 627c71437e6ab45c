"""The one typed interface of the transcript store, whichever database is behind it.

The API server reads through it (`transcript`, `sessions`, `session`, `runs`); the recorder
writes through `record`; the retention sweeper calls `sweep`. `open_store` picks PostgreSQL
when a database URL is given, the embedded SQLite file otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from k8sclaw_controllers.transcripts import _rows

DEFAULT_PAGE: Final = 500
"""Events per page when the caller does not say."""
MAX_PAGE: Final = 10_000
"""Largest page a caller may ask for; larger limits are clamped."""
MAX_EXCHANGES: Final = 32
"""Most runs `exchanges` returns: two turns each fill the 64 turns of `spec.history`."""


class StoreError(Exception):
    """The store cannot be used as asked (message names the cause and the fix)."""


class TranscriptStore(Protocol):
    """Transcripts keyed namespace -> instance -> session -> run -> events."""

    async def record(
        self, batch: Sequence[_rows.NewEvent], runs: Mapping[tuple[str, str], _rows.RunInfo]
    ) -> int:
        """Store a batch in one transaction; `runs` maps (namespace, run) of every event to
        what the Kubernetes API said about it. Events already stored (same `seq`) are skipped;
        returns how many were new. Returns only after the commit."""
        ...

    async def transcript(
        self, namespace: str, run: str, after: int | None = None, limit: int = DEFAULT_PAGE
    ) -> _rows.TranscriptPage:
        """A page of one run's events ordered by `seq`, starting after `after` (None: from the
        start, which includes the task row, `seq` 0)."""
        ...

    async def runs(
        self, namespace: str, instance: str | None = None, session: str | None = None
    ) -> list[_rows.RunRow]:
        """Runs with a transcript in a namespace, oldest first, optionally of one instance or
        session."""
        ...

    async def sessions(self, namespace: str, instance: str | None = None) -> list[_rows.SessionRow]:
        """Sessions of a namespace (optionally of one instance), most recently updated first."""
        ...

    async def session(
        self, namespace: str, key: str, after: int | None = None, limit: int = DEFAULT_PAGE
    ) -> _rows.SessionDetail | None:
        """One session with its runs and a page of its events; None when unknown."""
        ...

    async def exchanges(
        self, namespace: str, sessions: Sequence[str], limit: int = MAX_EXCHANGES
    ) -> dict[str, list[_rows.ExchangeRow]]:
        """For each session (every one asked for is a key), its newest `limit` runs (at most
        `MAX_EXCHANGES`), oldest first, each with its task and answer: what the router needs
        for the next run's history, in one statement per 64 sessions, each session one
        bounded index range (no stream chunks, no tool events)."""
        ...

    async def sweep(
        self, policy: _rows.RetentionPolicy, now_ms: int | None = None
    ) -> _rows.SweepResult:
        """Enforce retention once: drop runs idle past their instance's `days`, trim each
        instance to its `max_events`, then drop runs and sessions left empty."""
        ...

    async def schema_version(self) -> int:
        """The migration version the database is at."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
