"""What the router knows about each conversation: the run in progress and the messages
waiting behind it. Rebuilt from the AgentRuns (the watch) after a restart; waiting
messages stay unacknowledged on the bus, so a restart gets them delivered again."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from k8sclaw_controllers.router._keys import Conversation
from k8sclaw_protocol import AgentRun, Event, names
from k8sclaw_protocol._chat import InboundMessage

ChatKey = tuple[str, str]
"""(namespace, conversation label)."""


@dataclass(frozen=True)
class Waiting:
    """A message not yet turned into a run (its bus event is acknowledged once it is)."""

    event: Event
    message: InboundMessage
    conversation: Conversation


@dataclass
class Chat:
    """One conversation: at most one run in progress, the rest queued in arrival order."""

    active: str | None = None
    """Name of the run in progress (created, not yet answered)."""
    waiting: deque[Waiting] = field(default_factory=deque)
    runs: set[str] = field(default_factory=set)
    """Names of the conversation's watched runs (its history without scanning them all)."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def held(self, message: InboundMessage) -> Waiting | None:
        """The waiting entry of this message (by platform id), if it is waiting already."""
        return next((w for w in self.waiting if w.message.message_id == message.message_id), None)


def answered(run: AgentRun) -> bool:
    """Finished and its reply is on the bus: the conversation may go on."""
    return run.is_terminal and names.ANNOTATION_REPLY_SENT in run.metadata.annotations


def queued(run: AgentRun) -> bool:
    """The controller holds the run back at the instance's concurrency limit."""
    conditions = run.status.conditions if run.status else []
    return any(c.type == "Queued" and c.status == "True" for c in conditions)


def chat_key(run: AgentRun) -> ChatKey:
    return run.namespace, run.metadata.labels.get(names.LABEL_CHAT_SESSION, "")
