"""How a delivered bus event becomes a row: kind by topic (chunks by type), identity from
the subject only, and hostile data kept storable."""

from __future__ import annotations

from typing import Any

import pytest

from k8sclaw_controllers import transcripts
from k8sclaw_protocol import Event, events


def _delivered(topic: str, data: Any, subject: str | None = None, seq: int = 7) -> Event:
    subject = subject or events.scoped_subject(topic, "team-a", "run-1")
    return Event.new(topic, data, {events.META_NAMESPACE: "evil"}).delivered(subject, seq)


@pytest.mark.parametrize(
    ("topic", "data", "kind"),
    [
        (events.AGENT_STREAM_CHUNK, {"type": "text"}, "text"),
        (events.AGENT_STREAM_CHUNK, {"type": "thinking"}, "thinking"),
        (events.AGENT_STREAM_CHUNK, {"type": "tool_use"}, "tool_call"),
        (events.AGENT_STREAM_CHUNK, {"type": "tool_result"}, "tool_result"),
        (events.AGENT_STREAM_CHUNK, {"type": ["odd"]}, "text"),
        (events.AGENT_STREAM_CHUNK, "not a dict", "text"),
        (events.AGENT_FOLLOWUP, {"text": "and then?"}, "user"),
        (events.AGENT_SPAWN_REQUEST, {"task": "sub"}, "spawn"),
        (events.TOOL_APPROVAL_REQUEST, {}, "approval"),
        (events.AGENT_RUN_REQUESTED, {}, "status"),
        (events.AGENT_RUN_FAILED, {"error": "x"}, "error"),
        (events.AGENT_RUN_COMPLETED, {"status": "success"}, "result"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_kind_follows_the_topic_and_chunk_type(topic: str, data: Any, kind: str) -> None:
    row = transcripts.to_new_event(_delivered(topic, data), 0)
    assert row is not None
    assert (row.kind, row.topic, row.namespace, row.run, row.seq) == (
        kind, topic, "team-a", "run-1", 7,
    )  # fmt: skip


@pytest.mark.parametrize(
    "subject",
    [
        "k8sclaw.agent.stream.chunk",  # unscoped
        "k8sclaw.channel.message.send.team-a.alpha",  # instance-scoped, not a run
        "k8sclaw.no.such.topic.team-a.run-1",
        "k8sclaw.agent.stream.chunk.Team_A.run-1",
    ],
)
def test_events_not_about_a_run_are_not_rows(subject: str) -> None:
    assert transcripts.to_new_event(_delivered(events.AGENT_STREAM_CHUNK, {}, subject), 0) is None


def test_an_undelivered_event_is_not_a_row() -> None:
    assert transcripts.to_new_event(Event.new(events.AGENT_STREAM_CHUNK, {}), 0) is None


def test_hostile_timestamps_and_shapes_stay_storable() -> None:
    event = _delivered(events.AGENT_STREAM_CHUNK, {"n": float("nan")})
    event.timestamp = event.timestamp.replace(year=9999, month=12, day=31, hour=23, minute=59)
    row = transcripts.to_new_event(event, 0)
    assert row is not None and row.time_ms <= 253402300799000
    assert row.data_json == '{"unreadable": true, "error": "ValueError"}'  # NaN is not JSON
    nested: list[Any] = []
    for _ in range(5000):
        nested = [nested]
    deep = transcripts.to_new_event(_delivered(events.AGENT_STREAM_CHUNK, nested), 0)
    assert deep is not None and '"unreadable":true' in deep.data_json.replace(" ", "")
