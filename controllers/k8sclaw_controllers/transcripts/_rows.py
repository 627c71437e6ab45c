"""Typed rows of the transcript store, the event kinds, and how a bus event becomes a row.

Everything here is pure: the recorder builds `NewEvent`s with `to_new_event`, the store
returns `EventRow`/`RunRow`/`SessionRow`, and the API server serialises them. Payloads
come from agent pods (hostile), so data is capped in bytes before it is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from k8sclaw_protocol import events

Kind = Literal[
    "task",
    "user",
    "text",
    "thinking",
    "tool_call",
    "tool_result",
    "status",
    "spawn",
    "approval",
    "error",
    "result",
    "other",
]
"""What an event row is, for readers that do not want to know bus topics.

`task` is the run's task from the AgentRun spec (a synthetic row, `seq` 0); token usage
travels in the `result` row's `data.metrics` (input/output tokens, tool calls)."""

DATA_CAP: Final = 64 * 1024
"""Largest stored JSON of one event's data, in bytes; larger data is replaced by a preview."""
TEXT_CAP: Final = 64 * 1024
"""Largest stored task text, in bytes."""
_MAX_MS: Final = 253402300799000  # 9999-12-31T23:59:59Z
TASK_SEQ: Final = 0
"""`seq` of the synthetic task row: JetStream sequences start at 1, so it sorts first."""

RUN_TOPICS: Final = frozenset(
    {
        events.AGENT_RUN_REQUESTED,
        events.AGENT_RUN_STARTED,
        events.AGENT_RUN_COMPLETED,
        events.AGENT_RUN_FAILED,
        events.AGENT_STREAM_CHUNK,
        events.AGENT_STATUS_UPDATE,
        events.AGENT_SPAWN_REQUEST,
        events.AGENT_FOLLOWUP,
        events.TOOL_EXEC_REQUEST,
        events.TOOL_EXEC_RESULT,
        events.TOOL_APPROVAL_REQUEST,
        events.TOOL_APPROVAL_RESPONSE,
    }
)
"""Topics whose subject names a run (channel topics name an instance and are not recorded)."""

_BY_TOPIC: Final[dict[str, Kind]] = {
    events.AGENT_RUN_REQUESTED: "status",
    events.AGENT_RUN_STARTED: "status",
    events.AGENT_STATUS_UPDATE: "status",
    events.AGENT_RUN_COMPLETED: "result",
    events.AGENT_RUN_FAILED: "error",
    events.AGENT_SPAWN_REQUEST: "spawn",
    events.AGENT_FOLLOWUP: "user",
    events.TOOL_EXEC_REQUEST: "tool_call",
    events.TOOL_EXEC_RESULT: "tool_result",
    events.TOOL_APPROVAL_REQUEST: "approval",
    events.TOOL_APPROVAL_RESPONSE: "approval",
}
_CHUNK_KINDS: Final[dict[str, Kind]] = {
    "text": "text",
    "thinking": "thinking",
    "tool_use": "tool_call",
    "tool_result": "tool_result",
}


@dataclass(frozen=True)
class RunInfo:
    """What the Kubernetes API says about a run (never the payload): its place in the tree."""

    instance: str
    session_key: str
    task: str
    uid: str = ""


UNKNOWN_RUN: Final = RunInfo(instance="", session_key="", task="")
"""For a run whose AgentRun was gone before the recorder could look it up."""


@dataclass(frozen=True)
class NewEvent:
    """One bus event ready to store: identity from the subject, id from the stream."""

    seq: int
    namespace: str
    run: str
    topic: str
    kind: Kind
    time_ms: int
    data_json: str


@dataclass(frozen=True)
class EventRow:
    """One stored event of a transcript, ordered by `seq` (the bus stream sequence)."""

    seq: int
    namespace: str
    instance: str
    session: str
    run: str
    kind: Kind
    topic: str
    time: datetime
    data: Any


@dataclass(frozen=True)
class RunRow:
    """A run that has a transcript."""

    namespace: str
    run: str
    instance: str
    session: str
    task: str
    created: datetime
    updated: datetime
    event_count: int
    last_seq: int


@dataclass(frozen=True)
class SessionRow:
    """A conversation: the runs of one instance sharing a session key."""

    namespace: str
    instance: str
    key: str
    created: datetime
    updated: datetime
    run_count: int


@dataclass(frozen=True)
class TranscriptPage:
    """A page of one run's transcript; `next_after` is the `after` of the next page (None
    when this page is the last one known so far)."""

    run: RunRow | None
    events: list[EventRow]
    next_after: int | None


@dataclass(frozen=True)
class SessionDetail:
    """A session with its runs (oldest first) and a page of its events across runs."""

    session: SessionRow
    runs: list[RunRow]
    events: list[EventRow]
    next_after: int | None


@dataclass(frozen=True)
class ExchangeRow:
    """One earlier run of a session as a conversation turn: its task and, once it finished,
    its answer (the result's response, else its error; None while unanswered)."""

    run: str
    created: datetime
    task: str
    answer: str | None


@dataclass(frozen=True)
class Retention:
    """How long transcripts are kept: runs idle longer than `days` go, and an instance keeps
    at most `max_events` events (oldest trimmed first). None disables a limit."""

    days: float | None = 30.0
    max_events: int | None = None


@dataclass(frozen=True)
class RetentionPolicy:
    """The default retention and per-instance overrides keyed by (namespace, instance)."""

    default: Retention = field(default_factory=Retention)
    overrides: dict[tuple[str, str], Retention] = field(default_factory=dict)

    def for_instance(self, namespace: str, instance: str) -> Retention:
        """The retention of one instance."""
        return self.overrides.get((namespace, instance), self.default)


@dataclass(frozen=True)
class SweepResult:
    """What one retention sweep removed."""

    events: int
    runs: int
    sessions: int


def kind_of(topic: str, data: Any) -> Kind:
    """The row kind of a run event (stream chunks by their `type`)."""
    if topic == events.AGENT_STREAM_CHUNK:
        chunk_type = data.get("type") if isinstance(data, dict) else None
        return _CHUNK_KINDS.get(chunk_type, "text") if isinstance(chunk_type, str) else "text"
    return _BY_TOPIC.get(topic, "other")


def cap_json(data: Any, cap: int = DATA_CAP) -> str:
    """JSON text of `data`, at most `cap` bytes: larger data becomes a truncated preview.

    ASCII-escaped, so a NUL or lone surrogate in agent output can never break a text column;
    strict (no NaN), so every reader's JSON parser accepts it.
    """
    try:
        text = json.dumps(
            data, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=str
        )
    except (ValueError, TypeError, RecursionError) as exc:  # hostile shapes: keep a marker
        text = json.dumps({"unreadable": True, "error": type(exc).__name__})
    if len(text) <= cap:
        return text
    preview = text[: max(cap // 2, 0)]
    return json.dumps({"truncated": True, "bytes": len(text), "preview": preview})


def cap_text(text: str, cap: int = TEXT_CAP) -> str:
    """`text` without NULs (PostgreSQL text refuses them), cut to at most `cap` UTF-8 bytes."""
    raw = text.replace("\x00", "").encode("utf-8", "replace")[:cap]
    return raw.decode("utf-8", "ignore")


def to_new_event(event: events.Event, recorded_ms: int) -> NewEvent | None:
    """The row for a delivered run event; None for events that are not about a run.

    Namespace and run come from the subject the server delivered on, the id from the
    stream sequence, never from the payload.
    """
    if event.subject is None or event.sequence is None:
        return None
    try:
        scoped = events.parse_subject(event.subject)
    except ValueError:
        return None
    if scoped.topic not in RUN_TOPICS:
        return None
    stamp = event.timestamp
    time_ms = int(stamp.timestamp() * 1000) if stamp.tzinfo else recorded_ms
    time_ms = min(max(time_ms, 0), _MAX_MS)  # a hostile timestamp must still read back
    return NewEvent(
        seq=event.sequence,
        namespace=scoped.namespace,
        run=scoped.name,
        topic=scoped.topic,
        kind=kind_of(scoped.topic, event.data),
        time_ms=time_ms,
        data_json=cap_json(event.data),
    )


def from_ms(ms: int) -> datetime:
    """A stored millisecond timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)
