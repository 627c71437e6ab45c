"""Who may do what on the bus: the one permission matrix (SPEC §17, docs/security.md).

Every component connects as its own NATS user. Control-plane identities (`IDENTITIES`)
are fixed; an agent pod's bridge (`run_permissions`) and a channel pod
(`channel_permissions`) get users scoped to one namespace and run or instance. The
manifests' server config, the controller's minting and the test fixture all read this
module, so the shipped authorization is the tested one.

JetStream is reached only through subjects that cannot widen a scoped user's view: a
scoped user may create a consumer only under a fixed name with a filter naming its own
subject (`$JS.API.CONSUMER.CREATE.<stream>.<consumer>.<filter>`; the server refuses a
request whose filter differs from the subject's), pull and ack only that consumer, and
receive replies only on its own inbox prefix. It has no `$JS.API.>`, no stream
management, and cannot subscribe to any `k8sclaw.>` subject directly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Final

from k8sclaw_protocol import _events
from k8sclaw_protocol._instance import CHANNEL_TYPES

STREAM: Final = _events.STREAM_NAME
JS: Final = "$JS.API"
INBOX: Final = "_INBOX"

RUN_OUTBOUND: Final = (
    _events.AGENT_RUN_STARTED,
    _events.AGENT_RUN_COMPLETED,
    _events.AGENT_RUN_FAILED,
    _events.AGENT_STREAM_CHUNK,
    _events.AGENT_STATUS_UPDATE,
    _events.AGENT_SPAWN_REQUEST,
    _events.TOOL_EXEC_REQUEST,
    _events.CHANNEL_MESSAGE_SEND,
    _events.TOOL_APPROVAL_REQUEST,
    _events.AGENT_MEMORY_UPDATE,
)
"""Topics a run's bridge publishes, each only as `k8sclaw.<topic>.<ns>.<run>`."""
RUN_INBOUND: Final = (
    _events.AGENT_FOLLOWUP,
    _events.TOOL_EXEC_RESULT,
    _events.TOOL_APPROVAL_RESPONSE,
)
"""Topics a run's bridge receives, each only for its own namespace and run."""
CHANNEL_OUTBOUND: Final = (_events.CHANNEL_MESSAGE_RECEIVED, _events.CHANNEL_HEALTH_UPDATE)
"""Topics a channel pod publishes, each only as `k8sclaw.<topic>.<ns>.<instance>`."""


@dataclass(frozen=True)
class Permissions:
    """Subjects a user may publish to and subscribe to (NATS allow lists; all else denied)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    inbox_prefix: str = INBOX
    consumers: tuple[str, ...] = field(default=())
    """Consumer names this user may use (scoped users only; documentation and tests)."""

    def claims(self) -> dict[str, Any]:
        """The `pub`/`sub` part of a user JWT's `nats` claims."""
        return {"pub": {"allow": list(self.publish)}, "sub": {"allow": list(self.subscribe)}}


def _stream_reader() -> tuple[str, ...]:
    """Read the whole stream through consumers of any filter (trusted components only)."""
    return (
        f"{JS}.INFO",
        f"{JS}.STREAM.INFO.{STREAM}",
        f"{JS}.CONSUMER.*.{STREAM}",
        f"{JS}.CONSUMER.*.{STREAM}.>",
        f"{JS}.CONSUMER.DURABLE.CREATE.{STREAM}.>",
        f"{JS}.CONSUMER.MSG.NEXT.{STREAM}.>",
        f"$JS.ACK.{STREAM}.>",
    )


def _stream_admin() -> tuple[str, ...]:
    return (f"{JS}.STREAM.CREATE.{STREAM}", f"{JS}.STREAM.UPDATE.{STREAM}")


def _all(topic: str) -> str:
    return f"{_events.SUBJECT_PREFIX}{topic}.>"


IDENTITIES: Final[dict[str, Permissions]] = {
    # Owns the stream, finishes runs, and answers on behalf of the platform.
    "controller": Permissions(
        publish=(f"{_events.SUBJECT_PREFIX}>", *_stream_admin(), *_stream_reader()),
        subscribe=(f"{INBOX}.>",),
    ),
    # Transcript recorder: reads everything through a durable consumer, publishes nothing.
    "recorder": Permissions(publish=_stream_reader(), subscribe=(f"{INBOX}.>",)),
    # API server: WebSocket fan-out of everything; sends follow-ups and approval answers.
    "apiserver": Permissions(
        publish=(
            _all(_events.AGENT_FOLLOWUP),
            _all(_events.TOOL_APPROVAL_RESPONSE),
            *_stream_reader(),
        ),
        subscribe=(f"{INBOX}.>",),
    ),
    # Channel router: channel messages in, follow-ups, deliveries to channel pods and
    # approval answers out.
    "router": Permissions(
        publish=(
            _all(_events.AGENT_FOLLOWUP),
            _all(_events.CHANNEL_MESSAGE_DELIVER),
            _all(_events.TOOL_APPROVAL_RESPONSE),
            *_stream_reader(),
        ),
        subscribe=(f"{INBOX}.>",),
    ),
}
"""Control-plane identities by name (`k8sclaw-bus-<name>` creds)."""


def consumer_name(kind: str, namespace: str, name: str, uid: str = "") -> str:
    """The one JetStream consumer a scoped user may use for `kind` (a topic): fixed per
    object (uid included, so a re-created run never inherits the old one's position)."""
    digest = hashlib.sha256(f"{kind}\0{namespace}\0{name}\0{uid}".encode()).hexdigest()[:32]
    return f"{kind.replace('.', '-')}-{digest}"


def scoped_inbox(kind: str, namespace: str, name: str) -> str:
    """Reply-subject prefix of a scoped user (JetStream acks and pulls arrive there)."""
    _events.scoped_subject(_events.AGENT_RUN_STARTED, namespace, name)  # validates tokens
    return f"{INBOX}.{kind}.{namespace}.{name}"


def _consumer_rights(consumer: str, filter_subject: str) -> tuple[str, ...]:
    return (
        f"{JS}.CONSUMER.CREATE.{STREAM}.{consumer}.{filter_subject}",
        f"{JS}.CONSUMER.INFO.{STREAM}.{consumer}",
        f"{JS}.CONSUMER.DELETE.{STREAM}.{consumer}",
        f"{JS}.CONSUMER.MSG.NEXT.{STREAM}.{consumer}",
        f"$JS.ACK.{STREAM}.{consumer}.>",
    )


def run_permissions(namespace: str, run: str, uid: str) -> Permissions:
    """A run's bridge: publish its outbound subjects, consume its inbound ones."""
    inbox = scoped_inbox("run", namespace, run)
    publish = [_events.scoped_subject(topic, namespace, run) for topic in RUN_OUTBOUND]
    consumers = []
    for topic in RUN_INBOUND:
        consumer = consumer_name(topic, namespace, run, uid)
        consumers.append(consumer)
        publish += _consumer_rights(consumer, _events.scoped_subject(topic, namespace, run))
    return Permissions(tuple(publish), (f"{inbox}.>",), inbox, tuple(consumers))


def channel_permissions(namespace: str, instance: str) -> Permissions:
    """A channel pod: publish received messages and health for its instance; consume only
    the router's deliveries to its instance (never what agent pods publish directly),
    through one consumer per channel type (`channel_consumer`), so an instance's Telegram
    and Slack pods each see every delivery and keep their own."""
    inbox = scoped_inbox("channel", namespace, instance)
    publish = [_events.scoped_subject(t, namespace, instance) for t in CHANNEL_OUTBOUND]
    deliveries = _events.scoped_subject(_events.CHANNEL_MESSAGE_DELIVER, namespace, instance)
    consumers = tuple(channel_consumer(namespace, instance, kind) for kind in CHANNEL_TYPES)
    for consumer in consumers:
        publish += _consumer_rights(consumer, deliveries)
    return Permissions(tuple(publish), (f"{inbox}.>",), inbox, consumers)


def channel_consumer(namespace: str, instance: str, channel_type: str) -> str:
    """The durable consumer through which one channel pod reads its deliveries."""
    return consumer_name(_events.CHANNEL_MESSAGE_DELIVER, namespace, instance, channel_type)


# How a run's bridge is told who it is (set by the controller's Job builder).
ENV_BUS_CREDS_DIR: Final = "K8SCLAW_BUS_CREDS_DIR"
"""Directory of the bridge's `.creds` file (the run's Secret, mounted), like the other
`K8SCLAW_*_DIR` mount variables."""
BUS_CREDS_MOUNT: Final = "/var/run/k8sclaw/bus"
BUS_CREDS_KEY: Final = "user.creds"
ENV_RUN_UID: Final = "AGENT_RUN_UID"
"""The run's uid: part of its consumer names."""
ENV_RUN_CREATED: Final = "AGENT_RUN_CREATED"
"""The run's creationTimestamp (RFC 3339): inbound events older than it are not its own."""
ENV_RESULT_TIMEOUT: Final = "K8SCLAW_BUS_RESULT_TIMEOUT"
"""Seconds the bridge keeps trying to publish the result before it exits non-zero."""
DEFAULT_RESULT_TIMEOUT: Final = 60.0
