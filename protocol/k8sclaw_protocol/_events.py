"""The event bus wire format: envelope, topics, subjects and the JetStream stream.

Every component that publishes or subscribes (IPC bridge, controller, router, API
server, TUI) imports these names, so a topic is spelled exactly once (reference §4).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

SUBJECT_PREFIX: Final = "k8sclaw."
STREAM_NAME: Final = "k8sclaw"
STREAM_SUBJECTS: Final = ("k8sclaw.>",)
STREAM_MAX_AGE_SECONDS: Final = 24 * 3600
MAX_PAYLOAD_BYTES: Final = 1024 * 1024
"""The server's `max_payload` (shipped config and test fixture) and the stream's
`max_msg_size`."""
MAX_EVENT_BYTES: Final = MAX_PAYLOAD_BYTES - 64 * 1024
"""The cap on one serialised event: below `MAX_PAYLOAD_BYTES`, leaving room for headers.
Publishers fit events under it (`fit`); the bus refuses larger ones permanently."""
TRUNCATION_MARKER: Final = "\n…[truncated {dropped} bytes]"

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
AGENT_MEMORY_UPDATE: Final = "agent.memory.update"
CHANNEL_MESSAGE_RECEIVED: Final = "channel.message.received"
CHANNEL_MESSAGE_SEND: Final = "channel.message.send"
CHANNEL_MESSAGE_DELIVER: Final = "channel.message.deliver"
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
    CHANNEL_MESSAGE_DELIVER,
    CHANNEL_HEALTH_UPDATE,
    TOOL_EXEC_REQUEST,
    TOOL_EXEC_RESULT,
    TOOL_APPROVAL_REQUEST,
    TOOL_APPROVAL_RESPONSE,
    AGENT_MEMORY_UPDATE,
)


def subject(topic: str) -> str:
    """NATS subject of a topic: `k8sclaw.` + topic."""
    return SUBJECT_PREFIX + topic


def topic_of(subject_name: str) -> str:
    """Inverse of `subject`; raises ValueError for subjects outside the stream."""
    if not subject_name.startswith(SUBJECT_PREFIX):
        raise ValueError(f"subject {subject_name!r} is not a k8sclaw subject")
    return subject_name[len(SUBJECT_PREFIX) :]


# A scope token is a namespace or an object name that fits one NATS subject token: a
# DNS-1123 label (no dots, no wildcards), which every Kubernetes namespace already is and
# which admission requires of AgentRun and ClawInstance names (SPEC §17).
SCOPE_TOKEN_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_SCOPE_TOKEN = re.compile(SCOPE_TOKEN_PATTERN)


@dataclass(frozen=True)
class Scoped:
    """A subject split into its topic and the namespace/name it concerns (a run, or an
    instance for channel topics). Consumers take identity from here, never the payload."""

    topic: str
    namespace: str
    name: str


def scope_token_ok(value: str) -> bool:
    """True when `value` can stand as one subject token (DNS-1123 label)."""
    return bool(_SCOPE_TOKEN.match(value))


def scoped_subject(topic: str, namespace: str, name: str) -> str:
    """`k8sclaw.<topic>.<namespace>.<name>`: the subject of an event about one object.

    Raises ValueError when namespace or name is not a DNS-1123 label, so a hostile
    name can never inject subject tokens or wildcards.
    """
    for what, value in (("namespace", namespace), ("name", name)):
        if not scope_token_ok(value):
            raise ValueError(f"{what} {value!r} is not a DNS-1123 label; cannot scope a subject")
    return f"{SUBJECT_PREFIX}{topic}.{namespace}.{name}"


def scoped_filter(topic: str, namespace: str = "*", name: str = "*") -> str:
    """Subscription topic (without the prefix) matching `topic` for one namespace/name or
    any (`*`): pass it to `EventBus.subscribe`."""
    return f"{topic}.{namespace}.{name}"


def parse_subject(subject_name: str) -> Scoped:
    """Inverse of `scoped_subject`; ValueError unless the topic is a known one and both
    scope tokens are DNS-1123 labels."""
    topic_and_scope = topic_of(subject_name)
    topic, sep, scope = topic_and_scope.rpartition(".")
    topic, sep2, namespace = topic.rpartition(".")
    if not (sep and sep2) or topic not in TOPICS:
        raise ValueError(f"subject {subject_name!r} has no known topic with namespace and name")
    if not (scope_token_ok(namespace) and scope_token_ok(scope)):
        raise ValueError(f"subject {subject_name!r} has a malformed namespace or name")
    return Scoped(topic=topic, namespace=namespace, name=scope)


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """The envelope of every bus message: `{topic, timestamp, metadata, data}`."""

    model_config = ConfigDict(extra="ignore")

    topic: str = Field(min_length=1)
    timestamp: datetime = Field(default_factory=_now)
    metadata: dict[str, str] = Field(default_factory=dict)
    data: Any = None
    # Set by the subscription from what the server delivered, never read from the payload
    # (private attributes are not validated from input): the authorised subject and the
    # stream sequence, which is the event's unique id in the stream.
    _subject: str | None = PrivateAttr(default=None)
    _sequence: int | None = PrivateAttr(default=None)

    @property
    def subject(self) -> str | None:
        """The subject the server delivered this event on (None for an unsent event)."""
        return self._subject

    @property
    def sequence(self) -> int | None:
        """The JetStream stream sequence of a delivered event (None for an unsent event)."""
        return self._sequence

    def delivered(self, subject: str, sequence: int) -> Event:
        """Stamp what the server said about this message; returns self."""
        self._subject, self._sequence = subject, sequence
        return self

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
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Event:
        """Parse a bus message; raises pydantic.ValidationError on a bad envelope."""
        return cls.model_validate_json(raw)


def fit(event: Event, cap: int = MAX_EVENT_BYTES) -> Event:
    """`event` when it serialises within `cap` bytes; else a copy whose longest strings in
    `data` are cut (at a UTF-8 boundary, `TRUNCATION_MARKER` appended) until it does.

    A result or a tool output over the cap is thus delivered shortened, never lost and
    never retried forever (issue #13 item 5). Strings are measured as serialised, so a
    text of escapes (control characters, quotes) shrinks by what it really costs.
    """
    size = len(event.to_bytes())
    if size <= cap:
        return event
    box: list[Any] = [copy.deepcopy(event.data)]
    for _ in range(64):
        longest = _longest_string(box)
        if longest is None:
            break
        container, key = longest
        container[key] = _cut(container[key], size - cap)
        event = event.model_copy(update={"data": box[0]})
        size = len(event.to_bytes())
        if size <= cap:
            return event
    return event.model_copy(update={"data": {"truncated": True, "bytes": size}})


def _cut(value: str, excess: int) -> str:
    raw = value.encode()
    serialised = len(json.dumps(value, ensure_ascii=False).encode())
    marker_room = len(TRUNCATION_MARKER.encode()) + 24
    per_byte = max(1.0, serialised / max(1, len(raw)))
    keep = max(0, len(raw) - int((excess + marker_room) / per_byte) - 1)
    kept = raw[:keep].decode(errors="ignore")
    return kept + TRUNCATION_MARKER.format(dropped=len(raw) - len(kept.encode()))


def _longest_string(node: Any) -> tuple[Any, Any] | None:
    """(container, key) of the longest string under `node` (a list or dict), or None."""
    best: tuple[Any, Any] | None = None
    best_len = 0
    stack = [node]
    while stack:
        current = stack.pop()
        keys: Any = current.keys() if isinstance(current, dict) else range(len(current))
        for key in keys:
            value = current[key]
            if isinstance(value, str) and len(value) > best_len:
                best, best_len = (current, key), len(value)
            elif isinstance(value, dict | list):
                stack.append(value)
    return best
