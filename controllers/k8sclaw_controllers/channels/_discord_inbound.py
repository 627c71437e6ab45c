"""What a person did on Discord, as the router's `InboundMessage`: a message in a channel,
thread or DM, or a press on an approval card's button.

Everything here comes from the platform and is hostile: bots (ourselves included) and
system messages are dropped, text is cleaned and capped, and ids come from the objects
discord.py built from the gateway frame, never from message text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import discord

from k8sclaw_controllers.channels import _discord_format
from k8sclaw_protocol._chat import ApprovalAction, Decision, InboundMessage

_PERSON_MESSAGES: Final = (discord.MessageType.default, discord.MessageType.reply)
_DECISIONS: Final[dict[str, Decision]] = {"approve": "approve", "deny": "deny"}
CUSTOM_ID_LIMIT: Final = 100
"""Discord's maximum length of a button's `custom_id`."""


def chat_and_thread(channel: object) -> tuple[str, str | None]:
    """Chat and thread ids of a channel: a thread is its own channel inside a parent, so
    the parent is the chat and the thread channel is the thread (replies go there)."""
    if isinstance(channel, discord.Thread) and channel.parent_id is not None:
        return str(channel.parent_id), str(channel.id)
    return str(getattr(channel, "id", "")), None


def from_message(message: discord.Message, own_id: int | None) -> InboundMessage | None:
    """A person's text message, or None for bots, ourselves, webhooks and system notes."""
    author = message.author
    if author.bot or author.id == own_id or message.webhook_id is not None:
        return None
    if message.type not in _PERSON_MESSAGES:
        return None
    text = _discord_format.inbound_text(message.content)
    if not text.strip():
        return None
    chat, thread = chat_and_thread(message.channel)
    return InboundMessage(
        channel="discord",
        message_id=str(message.id),
        chat_id=chat,
        thread_id=thread,
        sender_id=str(author.id),
        sender_name=_discord_format.inbound_name(author.display_name),
        text=text,
    )


def approval_custom_id(decision: Decision, approval_id: str) -> str:
    """The button's `custom_id`, `approve:<id>` or `deny:<id>`."""
    custom_id = f"{decision}:{approval_id}"
    if len(custom_id) > CUSTOM_ID_LIMIT:
        raise ValueError(f"approval id longer than Discord's {CUSTOM_ID_LIMIT}-character button id")
    return custom_id


def parse_custom_id(custom_id: object) -> ApprovalAction | None:
    """The approval action a button id names, or None if it is not one of our cards."""
    if not isinstance(custom_id, str) or len(custom_id) > CUSTOM_ID_LIMIT:
        return None
    verb, _, approval_id = custom_id.partition(":")
    decision = _DECISIONS.get(verb)
    if decision is None or not approval_id:
        return None
    return ApprovalAction(approval_id=approval_id, decision=decision)


def from_interaction(interaction: discord.Interaction) -> InboundMessage | None:
    """A press on one of our approval buttons, with the clicking user as sender."""
    if interaction.type is not discord.InteractionType.component or interaction.user.bot:
        return None
    data: Mapping[str, object] = interaction.data or {}
    action = parse_custom_id(data.get("custom_id"))
    if action is None:
        return None
    chat, thread = chat_and_thread(interaction.channel)
    if not chat and interaction.channel_id is not None:
        chat = str(interaction.channel_id)
    return InboundMessage(
        channel="discord",
        message_id=str(interaction.id),
        chat_id=chat,
        thread_id=thread,
        sender_id=str(interaction.user.id),
        sender_name=_discord_format.inbound_name(interaction.user.display_name),
        action=action,
    )
