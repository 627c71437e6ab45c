"""Names the router derives from a chat message: deterministic, so a redelivered message
or a restarted router finds what it did before instead of doing it twice.

Platform ids (chat, thread, message) are hashed: they are not valid label values or
object names, and a hash keeps every key bounded whatever the platform sends.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from k8sclaw_protocol import MAX_RUN_NAME
from k8sclaw_protocol._chat import InboundMessage

_DIGEST = 16
_RUN_INFIX = "-chat-"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:_DIGEST]


@dataclass(frozen=True)
class Conversation:
    """One chat (and thread) of one instance: where a message came from, where the reply
    goes, and the key of its session."""

    namespace: str
    instance: str
    channel: str
    chat_id: str
    thread_id: str | None

    @classmethod
    def of(cls, namespace: str, instance: str, message: InboundMessage) -> Conversation:
        return cls(namespace, instance, message.channel, message.chat_id, message.thread_id)

    @cached_property
    def label(self) -> str:
        """Value of `names.LABEL_CHAT_SESSION`: selects the runs of this conversation
        (a hash: computed once per message)."""
        return _digest(self.instance, self.channel, self.chat_id, self.thread_id or "")

    @property
    def session_key(self) -> str:
        """`spec.sessionKey` of every run of this conversation (stable across messages)."""
        return f"chat-{self.channel}-{self.label}"

    @property
    def key(self) -> tuple[str, str]:
        """(namespace, label): the router's per-conversation queue key."""
        return self.namespace, self.label


def run_name(conversation: Conversation, message_id: str) -> str:
    """The AgentRun name of one message: the same message always names the same run, so a
    second create answers 409 AlreadyExists instead of starting a second run."""
    digest = _digest(conversation.label, message_id)
    room = MAX_RUN_NAME - len(_RUN_INFIX) - len(digest)
    prefix = conversation.instance[:room].rstrip("-.")
    return f"{prefix}{_RUN_INFIX}{digest}"
