"""The bus envelope and subject names are the one wire format every component shares."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from k8sclaw_protocol import Event, events


def test_subject_is_prefixed_topic_and_invertible() -> None:
    assert events.subject(events.AGENT_RUN_COMPLETED) == "k8sclaw.agent.run.completed"
    assert events.topic_of("k8sclaw.agent.stream.chunk") == events.AGENT_STREAM_CHUNK
    with pytest.raises(ValueError, match="not a k8sclaw subject"):
        events.topic_of("other.agent.run.completed")


def test_per_run_topics() -> None:
    assert events.followup_topic("run-1") == "agent.followup.run-1"
    assert events.exec_result_topic("run-1") == "tool.exec.result.run-1"


def test_topics_are_unique_and_inside_the_stream() -> None:
    assert len(set(events.TOPICS)) == len(events.TOPICS)
    assert events.STREAM_SUBJECTS == ("k8sclaw.>",)
    assert events.AGENT_STATUS_UPDATE in events.TOPICS


def test_envelope_round_trip_has_the_four_keys() -> None:
    event = Event.new(events.AGENT_RUN_COMPLETED, {"status": "success"}, {"agentRunID": "r"})
    raw = json.loads(event.to_bytes())
    assert set(raw) == {"topic", "timestamp", "metadata", "data"}
    assert raw["timestamp"].endswith("Z")
    back = Event.from_bytes(event.to_bytes())
    assert back.topic == event.topic
    assert back.data == {"status": "success"}
    assert back.metadata == {"agentRunID": "r"}
    assert back.timestamp == event.timestamp


@pytest.mark.parametrize(
    "raw",
    [b"", b"[]", b'{"topic": ""}', b'{"data": 1}', b"not json"],
    ids=["empty", "list", "empty-topic", "no-topic", "text"],
)
def test_malformed_envelope_is_rejected(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        Event.from_bytes(raw)
