"""What Slack sends, as chat messages: Events API events and Block Kit button presses.

Both Socket Mode and the Events API webhook hand their payloads here. Payloads are hostile
(any workspace member, and anyone on the network for a webhook whose signature is checked
elsewhere): every field is type-checked, ids must look like Slack ids, text is cleaned and
capped, and anything the bot or another bot said is dropped so replies cannot loop.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from k8sclaw_controllers.channels import _slack_format
from k8sclaw_protocol._chat import (
    MAX_ID_CHARS,
    MAX_TEXT_BYTES,
    ApprovalAction,
    InboundMessage,
)

TEXT_EVENTS: Final = frozenset({"message", "app_mention"})
PERSON_SUBTYPES: Final = frozenset({None, "thread_broadcast", "file_share"})
"""Message subtypes a person writes; edits, deletions, joins and bot posts are not."""
APPROVAL_ACTIONS: Final = frozenset({"approve", "deny"})
Kind = Literal["event", "action"]
Handler = Callable[[Kind, Any], Awaitable[None]]
"""Hands one payload on: an `event_callback`'s `event`, or a `block_actions` payload."""
_SLACK_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_ID_CHARS}}}")


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is, from `auth.test`: its own posts are never heard."""

    user_id: str
    bot_id: str | None = None


def from_event(event: Any, me: BotIdentity) -> InboundMessage | None:
    """A person's text message or mention, or None for everything else."""
    if not isinstance(event, dict) or event.get("type") not in TEXT_EVENTS:
        return None
    if event.get("subtype") not in PERSON_SUBTYPES or _from_a_bot(event, me):
        return None
    user, chat, ts = _id(event.get("user")), _id(event.get("channel")), _id(event.get("ts"))
    raw = event.get("text")
    if not (user and chat and ts and isinstance(raw, str)):
        return None
    text = _slack_format.from_slack(raw, me.user_id, MAX_TEXT_BYTES)
    if not text:
        return None
    return InboundMessage(
        channel="slack",
        message_id=ts,
        chat_id=chat,
        thread_id=_id(event.get("thread_ts")) or ts,
        sender_id=user,
        sender_name=_name(event.get("user_profile")),
        text=text,
    )


def from_action(payload: Any) -> InboundMessage | None:
    """A press on an approval card's Approve/Deny button, or None for anything else."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions else None
    if not isinstance(action, dict) or action.get("action_id") not in APPROVAL_ACTIONS:
        return None
    approval = action.get("value")
    user = _id(_field(payload, "user", "id"))
    chat = _id(_field(payload, "channel", "id")) or _id(_field(payload, "container", "channel_id"))
    press = _id(action.get("action_ts")) or _id(payload.get("trigger_id"))
    if not (user and chat and press and isinstance(approval, str)):
        return None
    approval = _slack_format.strip_controls(approval).strip()
    if not approval or len(approval) > MAX_ID_CHARS:
        return None
    return InboundMessage(
        channel="slack",
        message_id=press,
        chat_id=chat,
        thread_id=_id(_field(payload, "message", "thread_ts")),
        sender_id=user,
        sender_name=_name(payload.get("user")),
        action=ApprovalAction(approval_id=approval, decision=action["action_id"]),
    )


def _from_a_bot(event: dict[str, Any], me: BotIdentity) -> bool:
    if event.get("bot_id") or event.get("bot_profile") or event.get("hidden"):
        return True
    return event.get("user") == me.user_id


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and _SLACK_ID.fullmatch(value) else None


def _field(payload: dict[str, Any], outer: str, inner: str) -> Any:
    section = payload.get(outer)
    return section.get(inner) if isinstance(section, dict) else None


def _name(profile: Any) -> str | None:
    """Display name where Slack includes one (`user_profile` on messages, `user` on presses)."""
    if not isinstance(profile, dict):
        return None
    for key in ("display_name", "real_name", "username", "name"):
        value = profile.get(key)
        if isinstance(value, str) and value.strip():
            return _slack_format.strip_controls(value).strip()[:MAX_ID_CHARS] or None
    return None
