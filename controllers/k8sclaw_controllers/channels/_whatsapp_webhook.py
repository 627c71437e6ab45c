"""The WhatsApp webhook: Meta's GET verify handshake and signed POST notifications.

Meta calls `POST /webhook` with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw
body keyed with the app secret>`; anything unsigned (401) or wrongly signed (403) is
refused before it is parsed. A signed body is parsed at once, its new messages queued,
and 200 answered without waiting for the bus, so Meta does not time out and redeliver;
a redelivery of a message id already queued is dropped. A full queue answers 503, which
Meta retries later, rather than losing the message.

Only `messages` changes addressed to our own phone number id become `InboundMessage`s:
`text` messages, and `interactive` `button_reply` presses on our approval cards (ids
`approve:<id>` / `deny:<id>`). Statuses (sent/delivered/read), echoes of our own messages
and other numbers' traffic are ignored.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Final

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from k8sclaw_controllers.channels import _whatsapp_format
from k8sclaw_protocol._chat import MAX_ID_CHARS, MAX_TEXT_BYTES, ApprovalAction, InboundMessage

log = logging.getLogger("k8sclaw.channel.whatsapp")

MAX_BODY_BYTES: Final = 1024 * 1024
QUEUE_SIZE: Final = 1000
SEEN_IDS: Final = 10_000
"""How many recent message ids are remembered to drop Meta's redeliveries."""
DECISIONS: Final = {"approve": "approve", "deny": "deny"}


class Webhook:
    """State shared by the two routes: secrets, our number, the queue and seen ids."""

    def __init__(
        self, app_secret: str, verify_token: str, phone_number_id: str, own_number: str = ""
    ) -> None:
        self._secret = app_secret.encode()
        self._verify = verify_token.encode()
        self.phone_number_id = phone_number_id
        self.own_number = own_number
        """Our display number in digits (from the token check): its messages are our own."""
        self.queue: asyncio.Queue[InboundMessage] = asyncio.Queue(QUEUE_SIZE)
        self._seen: OrderedDict[str, None] = OrderedDict()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/webhook", self.verify, methods=["GET"]),
                Route("/webhook", self.notify, methods=["POST"]),
            ]
        )

    async def verify(self, request: Request) -> Response:
        """Meta's subscription handshake: echo `hub.challenge` when the token matches
        (never when no verify token is configured)."""
        params = request.query_params
        token = params.get("hub.verify_token", "").encode()
        matches = bool(self._verify) and hmac.compare_digest(token, self._verify)
        if params.get("hub.mode") == "subscribe" and matches:
            challenge = params.get("hub.challenge", "")[:MAX_ID_CHARS]
            return PlainTextResponse(challenge)
        return PlainTextResponse("forbidden", status_code=403)

    async def notify(self, request: Request) -> Response:
        body = await _read_capped(request)
        if body is None:
            return PlainTextResponse("payload too large", status_code=413)
        signature = request.headers.get("x-hub-signature-256")
        if not signature:
            return PlainTextResponse("missing signature", status_code=401)
        if not hmac.compare_digest(signature.encode(), self.sign(body).encode()):
            return PlainTextResponse("bad signature", status_code=403)
        try:
            payload = json.loads(body)
        except ValueError:
            return PlainTextResponse("not JSON", status_code=400)
        return self._enqueue(list(parse(payload, self.phone_number_id, self.own_number)))

    def sign(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()

    def _enqueue(self, messages: list[InboundMessage]) -> Response:
        fresh = [m for m in messages if m.message_id not in self._seen]
        if self.queue.maxsize - self.queue.qsize() < len(fresh):
            log.warning("inbound queue full; asking Meta to redeliver later")
            return PlainTextResponse("busy", status_code=503)
        for message in fresh:
            self._remember(message.message_id)
            self.queue.put_nowait(message)
        return PlainTextResponse("ok")

    def _remember(self, message_id: str) -> None:
        self._seen[message_id] = None
        while len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)


async def _read_capped(request: Request) -> bytes | None:
    """The raw body (the signature covers its exact bytes), or None past the cap."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def parse(payload: Any, phone_number_id: str, own_number: str = "") -> Iterator[InboundMessage]:
    """The people's messages in one notification; malformed parts are skipped."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue
            metadata = value.get("metadata")
            if not isinstance(metadata, dict) or metadata.get("phone_number_id") != phone_number_id:
                continue
            names = _contact_names(value.get("contacts"))
            for message in _dicts(value.get("messages")):
                inbound = _message(message, names, own_number)
                if inbound is not None:
                    yield inbound


def _message(message: dict[str, Any], names: dict[str, str], own: str) -> InboundMessage | None:
    sender, message_id = message.get("from"), message.get("id")
    if not isinstance(sender, str) or not isinstance(message_id, str) or sender == own:
        return None
    if not (sender.isprintable() and message_id.isprintable()):
        return None
    fields: dict[str, Any] = {
        "channel": "whatsapp",
        "messageId": message_id,
        "chatId": sender,
        "senderId": sender,
        "senderName": names.get(sender),
    }
    kind = message.get("type")
    if kind == "text":
        fields["text"] = _text(message.get("text"))
    elif kind == "interactive":
        fields["action"] = _button(message.get("interactive"))
    if not fields.get("text") and not fields.get("action"):
        return None
    try:
        return InboundMessage.model_validate(fields)
    except ValidationError:
        log.info("dropped a WhatsApp message with out-of-range fields")
        return None


def _text(text: Any) -> str:
    body = text.get("body") if isinstance(text, dict) else None
    if not isinstance(body, str):
        return ""
    return _whatsapp_format.clean(_whatsapp_format.cap_bytes(body, MAX_TEXT_BYTES)).strip()


def _button(interactive: Any) -> ApprovalAction | None:
    """`approve:<id>` / `deny:<id>` from a reply-button press; other ids are not ours."""
    if not isinstance(interactive, dict) or interactive.get("type") != "button_reply":
        return None
    reply = interactive.get("button_reply")
    button_id = reply.get("id") if isinstance(reply, dict) else None
    if not isinstance(button_id, str):
        return None
    verb, _, approval = button_id.partition(":")
    decision = DECISIONS.get(verb)
    if decision is None or not approval or len(approval) > MAX_ID_CHARS:
        return None
    return ApprovalAction.model_validate({"approvalId": approval, "decision": decision})


def _contact_names(contacts: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in _dicts(contacts):
        profile = contact.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        wa_id = contact.get("wa_id")
        if isinstance(wa_id, str) and isinstance(name, str):
            names[wa_id] = _whatsapp_format.clean(name).strip()[:MAX_ID_CHARS] or wa_id
    return names


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))
