"""Chat messages on the bus between channel pods and the router (reference §7.1, SPEC §9).

One definition for the channel program, the router, the controller and the tests. The
instance and namespace of a message are never in its payload: they are the scope tokens of
the subject the server authorised (`k8sclaw.<topic>.<namespace>.<instance>`), so a channel
pod can speak only for its own instance.

Flow (each arrow one topic, scoped `<ns>.<instance>` unless said):
- platform → channel pod → `channel.message.received` (`InboundMessage`) → router
- router → `channel.message.deliver` (`Delivery`) → the instance's channel pods; each pod
  keeps only deliveries whose `channel` is its own type
- a run's bridge → `channel.message.send.<ns>.<run>` (the agent's `send_channel_message`,
  hostile) → router, which checks it against the run's source chat and delivers it
- channel pod → `channel.health.update` (`HealthReport`) → controller → instance status
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from k8sclaw_protocol._instance import ChannelType

MAX_TEXT_BYTES: Final = 32 * 1024
"""Cap on one inbound chat message's text, in UTF-8 bytes (channel pods cut longer ones)."""
MAX_REPLY_BYTES: Final = 256 * 1024
"""Cap on one delivery's text; the channel pod splits it at the platform's limit."""
MAX_ID_CHARS: Final = 256
"""Cap on platform identifiers (chat, thread, sender, message ids)."""

HealthState = Literal["Connected", "Disconnected", "Error"]
DeliveryKind = Literal["text", "typing", "approval"]
Decision = Literal["approve", "deny"]


class ChatModel(BaseModel):
    """Wire model: camelCase on the bus, unknown keys ignored, sizes capped."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class ApprovalAction(ChatModel):
    """A button press on an approval card: which approval, and approve or deny."""

    approval_id: str = Field(alias="approvalId", min_length=1, max_length=MAX_ID_CHARS)
    decision: Decision


class InboundMessage(ChatModel):
    """What a person did in a chat: a text message, or a press on an approval card."""

    channel: ChannelType
    message_id: str = Field(alias="messageId", min_length=1, max_length=MAX_ID_CHARS)
    """Platform message (or callback) id: with the chat, the dedupe key of the router."""
    chat_id: str = Field(alias="chatId", min_length=1, max_length=MAX_ID_CHARS)
    thread_id: str | None = Field(default=None, alias="threadId", max_length=MAX_ID_CHARS)
    """Thread (Slack thread_ts, Telegram topic, Discord thread); None outside threads."""
    sender_id: str = Field(alias="senderId", min_length=1, max_length=MAX_ID_CHARS)
    sender_name: str | None = Field(default=None, alias="senderName", max_length=MAX_ID_CHARS)
    text: str = Field(default="", max_length=MAX_TEXT_BYTES)
    action: ApprovalAction | None = None
    """Set for an approval button press (then `text` is empty)."""


class ApprovalCard(ChatModel):
    """An approval request rendered as buttons in the originating chat thread."""

    approval_id: str = Field(alias="approvalId", min_length=1, max_length=MAX_ID_CHARS)
    run: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    tool: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    summary: str = Field(max_length=4096)
    """What is asked, e.g. the command line; plain text, shown verbatim."""


class Delivery(ChatModel):
    """Something the router wants shown in a chat: text, a typing indicator, or a card."""

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    """Idempotency key: a channel pod sends a delivery id at most once."""
    channel: ChannelType
    chat_id: str = Field(alias="chatId", min_length=1, max_length=MAX_ID_CHARS)
    thread_id: str | None = Field(default=None, alias="threadId", max_length=MAX_ID_CHARS)
    reply_to: str | None = Field(default=None, alias="replyTo", max_length=MAX_ID_CHARS)
    """Platform message id to reply to, where the platform supports it."""
    kind: DeliveryKind = "text"
    text: str = Field(default="", max_length=MAX_REPLY_BYTES)
    """Markdown; the channel converts it to the platform's format and splits it."""
    approval: ApprovalCard | None = None


class HealthReport(ChatModel):
    """A channel pod's view of its platform connection."""

    channel: ChannelType
    state: HealthState
    message: str | None = Field(default=None, max_length=1024)
    """The platform's own words for an Error (e.g. `unauthorized`)."""
