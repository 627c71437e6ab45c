"""What the router says in a chat: the reply, a friendly error, "queued", typing.

Each `Delivery` has an id derived from the run (its uid for the reply), published with
the same id as the JetStream message id: a router that restarts between publishing and
marking the run sends the same id again, and the stream and the channel pod drop it.
"""

from __future__ import annotations

from typing import Final

from k8sclaw_protocol import AgentRun, EventBus, events, names
from k8sclaw_protocol._chat import MAX_REPLY_BYTES, Delivery, DeliveryKind

MAX_ERROR_CHARS: Final = 300
"""Longest piece of a run's error shown in the chat (the full text is on the run)."""
QUEUED_TEXT: Final = (
    "Queued: the agent is busy with other conversations right now. "
    "Your message will be answered as soon as a slot frees up."
)
EMPTY_ANSWER: Final = "(The agent finished without an answer.)"


def reply_text(run: AgentRun) -> str:
    """The result of a finished run, or a short friendly error for a failed one."""
    status = run.status
    if run.phase == "Succeeded":
        text = (status.result if status else None) or EMPTY_ANSWER
    else:
        error = " ".join(((status.error if status else None) or "unknown error").split())
        if len(error) > MAX_ERROR_CHARS:
            error = error[: MAX_ERROR_CHARS - 1] + "…"
        text = f"Sorry, I could not finish that. ({error})"
    raw = text.encode()
    return text if len(raw) <= MAX_REPLY_BYTES else raw[:MAX_REPLY_BYTES].decode(errors="ignore")


def delivery_for(run: AgentRun, delivery_id: str, kind: DeliveryKind, text: str = "") -> Delivery:
    """A delivery to the chat and thread a run came from, replying to its message."""
    meta = run.metadata
    return Delivery.model_validate(
        {
            "id": delivery_id,
            "channel": meta.labels[names.LABEL_SOURCE_CHANNEL],
            "chatId": meta.annotations[names.ANNOTATION_SOURCE_CHAT],
            "threadId": meta.annotations.get(names.ANNOTATION_SOURCE_THREAD) or None,
            "replyTo": meta.annotations.get(names.ANNOTATION_SOURCE_MESSAGE) or None,
            "kind": kind,
            "text": text,
        }
    )


def is_chat_run(run: AgentRun) -> bool:
    """A run the router started (and so can answer): it names its source chat."""
    meta = run.metadata
    return bool(
        meta.labels.get(names.LABEL_SOURCE_CHANNEL)
        and meta.annotations.get(names.ANNOTATION_SOURCE_CHAT)
    )


async def publish(
    bus: EventBus, namespace: str, instance: str, delivery: Delivery, *, retry: bool
) -> None:
    """Put `delivery` on `channel.message.deliver.<ns>.<instance>` (idempotent by id)."""
    await bus.publish(
        _event(delivery),
        scope=(namespace, instance),
        msg_id=_msg_id(namespace, instance, delivery),
        retry=retry,
        give_up_after=30.0 if retry else None,
    )


async def signal(bus: EventBus, namespace: str, instance: str, delivery: Delivery) -> None:
    """Put a best-effort `delivery` (typing) on the deliver topic without awaiting its ack:
    a lost one is harmless, the next comes `TYPING_SECONDS` later."""
    msg_id = _msg_id(namespace, instance, delivery)
    await bus.signal(_event(delivery), scope=(namespace, instance), msg_id=msg_id)


def _event(delivery: Delivery) -> events.Event:
    data = delivery.model_dump(by_alias=True, exclude_none=True)
    return events.Event.new(events.CHANNEL_MESSAGE_DELIVER, data)


def _msg_id(namespace: str, instance: str, delivery: Delivery) -> str:
    return f"deliver-{namespace}-{instance}-{delivery.id}"
