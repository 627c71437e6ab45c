"""The event bus wire format: envelope, topics, subjects and the JetStream stream.

Every component that publishes or subscribes (IPC bridge, controller, router, API
server, TUI) imports these names, so a topic is spelled exactly once (reference §4).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

SUBJECT_PREFIX: Final = "k8sclaw."
STREAM_NAME: Final = "k8sclaw"
STREAM_SUBJECTS: Final = ("k8sclaw.>",)
STREAM_MAX_AGE_SECONDS: Final = 24 * 3600

# Metadata keys every bridge event carries.
META_AGENT_RUN_ID: Final = "agentRunID"
META_INSTANCE_NAME: Final = "instanceName"
# The run's (or channel's) namespace: names are unique only within one namespace.
META_NAMESPACE: Final = "namespace"

AGENT_RUN_REQUESTED: Final = "agent.run.requested"
AGENT_RUN_STARTED: Final = "agent.run.started"
AGENT_RUN_COMPLETED: Final = "agent.run.completed"
AGENT_RUN_FAILED: Final = "agent.run.failed"
AGENT_STREAM_CHUNK: Final = "agent.stream.chunk"
AGENT_STATUS_UPDATE: Final = "agent.status.update"
AGENT_SPAWN_REQUEST: Final = "agent.spawn.request"
AGENT_FOLLOWUP: Final = "agent.followup"
CHANNEL_MESSAGE_RECEIVED: Final = "channel.message.received"
CHANNEL_MESSAGE_SEND: Final = "channel.message.send"
CHANNEL_HEALTH_UPDATE: Final = "channel.health.update"
TOOL_EXEC_REQUEST: Final = "tool.exec.request"
TOOL_EXEC_RESULT: Final = "tool.exec.result"
TOOL_APPROVAL_REQUEST: Final = "tool.approval.request"
TOOL_APPROVAL_RESPONSE: Final = "tool.approval.response"

TOPICS: Final = (
    AGENT_RUN_REQUESTED,
    AGENT_RUN_STARTED,
    AGENT_RUN_COMPLETED,
    AGENT_RUN_FAILED,
    AGENT_STREAM_CHUNK,
    AGENT_STATUS_UPDATE,
    AGENT_SPAWN_REQUEST,
    AGENT_FOLLOWUP,
    CHANNEL_MESSAGE_RECEIVED,
    CHANNEL_MESSAGE_SEND,
    CHANNEL_HEALTH_UPDATE,
    TOOL_EXEC_REQUEST,
    TOOL_EXEC_RESULT,
    TOOL_APPROVAL_REQUEST,
    TOOL_APPROVAL_RESPONSE,
)


def subject(topic: str) -> str:
    """NATS subject of a topic: `k8sclaw.` + topic."""
    return SUBJECT_PREFIX + topic


def topic_of(subject_name: str) -> str:
    """Inverse of `subject`; raises ValueError for subjects outside the stream."""
    if not subject_name.startswith(SUBJECT_PREFIX):
        raise ValueError(f"subject {subject_name!r} is not a k8sclaw subject")
    return subject_name[len(SUBJECT_PREFIX) :]


def followup_topic(run_id: str) -> str:
    """Per-run topic the bridge turns into `/ipc/input/followup-*.json`."""
    return f"{AGENT_FOLLOWUP}.{run_id}"


def exec_result_topic(run_id: str) -> str:
    """Per-run topic the bridge turns into `/ipc/tools/exec-result-*.json`."""
    return f"{TOOL_EXEC_RESULT}.{run_id}"


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """The envelope of every bus message: `{topic, timestamp, metadata, data}`."""

    model_config = ConfigDict(extra="ignore")

    topic: str = Field(min_length=1)
    timestamp: datetime = Field(default_factory=_now)
    metadata: dict[str, str] = Field(default_factory=dict)
    data: Any = None

    @classmethod
    def new(cls, topic: str, data: Any = None, metadata: dict[str, str] | None = None) -> Event:
        """Build an event stamped with the current time."""
        return cls(topic=topic, data=data, metadata=dict(metadata or {}))

    def to_bytes(self) -> bytes:
        """Serialise for publishing; timestamps are RFC 3339 with nanosecond room."""
        body = {
            "topic": self.topic,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "metadata": self.metadata,
            "data": self.data,
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Event:
        """Parse a bus message; raises pydantic.ValidationError on a bad envelope."""
        return cls.model_validate_json(raw)
