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


def test_per_run_subjects_carry_namespace_and_run() -> None:
    subject = events.scoped_subject(events.AGENT_FOLLOWUP, "team-a", "run-1")
    assert subject == "k8sclaw.agent.followup.team-a.run-1"
    assert events.parse_subject(subject) == events.Scoped(events.AGENT_FOLLOWUP, "team-a", "run-1")
    assert not hasattr(events, "followup_topic")  # the unscoped per-run topics are gone


def test_to_bytes_keeps_non_ascii_as_utf8() -> None:
    raw = Event.new(events.AGENT_STREAM_CHUNK, "\N{GRINNING FACE}").to_bytes()
    assert "\N{GRINNING FACE}".encode() in raw and b"\\u" not in raw


def test_fit_leaves_small_events_alone_and_cuts_the_longest_string_by_bytes() -> None:
    small = Event.new(events.AGENT_RUN_COMPLETED, {"response": "ok"})
    assert events.fit(small) is small
    control = "\x01" * 200_000  # 6 bytes each once escaped
    big = Event.new(events.AGENT_RUN_COMPLETED, {"status": "success", "out": [control, "keep"]})
    fitted = events.fit(big, cap=100_000)
    assert len(fitted.to_bytes()) <= 100_000
    assert fitted.data["status"] == "success" and fitted.data["out"][1] == "keep"
    assert "truncated" in fitted.data["out"][0]
    assert big.data["out"][0] == control  # the original is untouched


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


def test_scoped_subject_carries_namespace_and_name_and_parses_back() -> None:
    subject = events.scoped_subject(events.AGENT_RUN_COMPLETED, "team-a", "run-1")
    assert subject == "k8sclaw.agent.run.completed.team-a.run-1"
    scoped = events.parse_subject(subject)
    assert (scoped.topic, scoped.namespace, scoped.name) == (
        events.AGENT_RUN_COMPLETED,
        "team-a",
        "run-1",
    )
    assert events.parse_subject("k8sclaw.agent.followup.ns.r").topic == events.AGENT_FOLLOWUP
    chunk_filter = events.scoped_filter(events.AGENT_STREAM_CHUNK, "team-a")
    assert chunk_filter == "agent.stream.chunk.team-a.*"


@pytest.mark.parametrize(
    ("namespace", "name"),
    [("a.b", "r"), ("ns", "*"), ("ns", ">"), ("NS", "r"), ("ns", ""), ("ns", "r" * 64)],
    ids=["dot", "star", "gt", "upper", "empty", "too-long"],
)
def test_scoped_subject_refuses_tokens_that_are_not_dns_labels(namespace: str, name: str) -> None:
    with pytest.raises(ValueError, match="DNS-1123 label"):
        events.scoped_subject(events.AGENT_RUN_COMPLETED, namespace, name)


@pytest.mark.parametrize(
    "subject",
    [
        "k8sclaw.agent.run.completed",
        "k8sclaw.agent.run.bogus.ns.r",
        "k8sclaw.agent.run.completed.NS.r",
        "other.agent.run.completed.ns.r",
    ],
    ids=["unscoped", "unknown-topic", "bad-namespace", "foreign-prefix"],
)
def test_parse_subject_refuses_what_scoped_subject_cannot_make(subject: str) -> None:
    with pytest.raises(ValueError):
        events.parse_subject(subject)


def test_delivery_stamp_is_never_read_from_the_payload() -> None:
    raw = b'{"topic": "agent.run.completed", "subject": "k8sclaw.x.ns.r", "_subject": "y"}'
    event = Event.from_bytes(raw)
    assert event.subject is None
    assert event.sequence is None
    event.delivered("k8sclaw.agent.run.completed.ns.r", 7)
    assert (event.subject, event.sequence) == ("k8sclaw.agent.run.completed.ns.r", 7)
    assert "subject" not in json.loads(event.to_bytes())
