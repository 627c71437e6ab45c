"""A scripted Meta: the WhatsApp Cloud API (Graph) the adapter calls, and the webhook
notifications Meta POSTs to the adapter, signed as Meta signs them.

Graph side (a threaded HTTP server on 127.0.0.1, any `/vNN.N` prefix):
- `GET /{phone-number-id}`: the number's profile, or Graph's error JSON
  (`{"error": {"message", "type", "code", "fbtrace_id"}}`) for a bad token (401, code 190)
  or an unknown id (400, code 100)
- `POST /{phone-number-id}/messages`: texts (refused past 4,096 characters, as Meta does),
  interactive reply buttons, and `status: read` with a typing indicator; every accepted
  call is recorded in `sent`
Test controls: `fail_next` (scripted errors, e.g. 429 with Retry-After), `token`
(change it to revoke the adapter's), `down()`/`up()` (the port refuses connections).

Webhook side: `payload_*` build notification bodies of the real shape (`object:
whatsapp_business_account`, entry[].changes[].value.{messaging_product, metadata,
contacts, messages|statuses}); `post` signs a body with `X-Hub-Signature-256` and sends it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

TEXT_LIMIT = 4096
DISPLAY_NUMBER = "+1 555-010-0000"
_ids = itertools.count(1)


def _wamid() -> str:
    return f"wamid.TEST{next(_ids):08d}"


@dataclass(frozen=True)
class Sent:
    """One accepted `POST /{phone-number-id}/messages` from the bot."""

    body: dict[str, Any]
    message_id: str

    @property
    def kind(self) -> str:
        return "typing" if self.body.get("status") == "read" else str(self.body.get("type"))

    @property
    def text(self) -> str:
        return str(self.body.get("text", {}).get("body", ""))


@dataclass
class Failure:
    status: int
    code: int
    message: str
    error_type: str = "OAuthException"
    retry_after: str | None = None


@dataclass
class ScriptedWhatsApp:
    """The Graph server plus the webhook sender; `close()` stops it."""

    token: str = "EAAG-test-access-token"
    phone_number_id: str = "106540352242922"
    app_secret: str = "test-app-secret"
    verify_token: str = "test-verify-token"
    sent: list[Sent] = field(default_factory=list)
    requests: int = 0
    _failures: list[Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.up()

    @property
    def api_url(self) -> str:
        """`WHATSAPP_API_URL` for the adapter."""
        return f"http://127.0.0.1:{self.port}/v21.0"

    @property
    def own_wa_id(self) -> str:
        return "".join(ch for ch in DISPLAY_NUMBER if ch.isdigit())

    def env(self) -> dict[str, str]:
        """The channel Secret's keys pointing at this server."""
        return {
            "WHATSAPP_API_URL": self.api_url,
            "WHATSAPP_ACCESS_TOKEN": self.token,
            "WHATSAPP_PHONE_NUMBER_ID": self.phone_number_id,
            "WHATSAPP_APP_SECRET": self.app_secret,
            "WHATSAPP_VERIFY_TOKEN": self.verify_token,
        }

    def fail_next(self, status: int, code: int, message: str, **kw: Any) -> None:
        """The next Graph call answers this error instead."""
        with self._lock:
            self._failures.append(Failure(status, code, message, **kw))

    def up(self) -> None:
        """Listen (again, on the same port after `down`)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Stop listening: connections are refused until `up`."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join(5)
        self._server = None

    close = down

    # --- webhook side -------------------------------------------------------------------

    def sign(self, body: bytes, secret: str | None = None) -> str:
        key = (self.app_secret if secret is None else secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    async def post(self, url: str, payload: Any, *, signature: str | None = "") -> httpx.Response:
        """POST a notification as Meta does; `signature=None` omits the header, `""`
        signs correctly, any other value is sent as given. Bytes are sent unchanged."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"content-type": "application/json"}
        if signature is not None:
            headers["x-hub-signature-256"] = signature or self.sign(body)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, content=body, headers=headers)

    def payload(self, value: dict[str, Any], field_name: str = "messages") -> dict[str, Any]:
        """A notification around one change `value` for our number."""
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self.own_wa_id,
                "phone_number_id": self.phone_number_id,
            },
            **value,
        }
        change = {"value": value, "field": field_name}
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [change]}],
        }

    def text_payload(
        self, text: str, wa_id: str = "16315551181", name: str = "Ada", message_id: str = ""
    ) -> dict[str, Any]:
        message = {
            "from": wa_id,
            "id": message_id or _wamid(),
            "timestamp": "1733390000",
            "type": "text",
            "text": {"body": text},
        }
        return self.payload({"contacts": _contact(wa_id, name), "messages": [message]})

    def button_payload(
        self, button_id: str, card_id: str, wa_id: str = "16315551181", name: str = "Ada"
    ) -> dict[str, Any]:
        message = {
            "context": {"from": self.own_wa_id, "id": card_id},
            "from": wa_id,
            "id": _wamid(),
            "timestamp": "1733390001",
            "type": "interactive",
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": button_id, "title": "Approve"},
            },
        }
        return self.payload({"contacts": _contact(wa_id, name), "messages": [message]})

    def status_payload(self, message_id: str, status: str = "delivered") -> dict[str, Any]:
        value = {
            "statuses": [
                {
                    "id": message_id,
                    "status": status,
                    "timestamp": "1733390002",
                    "recipient_id": "16315551181",
                }
            ]
        }
        return self.payload(value)

    # --- Graph side ---------------------------------------------------------------------

    def _answer(
        self, method: str, parts: list[str], auth: str, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests += 1
            if self._failures:
                return _error(self._failures.pop(0))
        if auth != f"Bearer {self.token}":
            return _error(
                Failure(401, 190, "Invalid OAuth access token - Cannot parse access token")
            )
        if not parts or parts[0] != self.phone_number_id:
            which = parts[0] if parts else ""
            return _error(
                Failure(
                    400,
                    100,
                    f"Unsupported request. Object with ID '{which}' does not exist",
                    "GraphMethodException",
                )
            )
        if method == "GET" and len(parts) == 1:
            profile = {
                "verified_name": "K8sClaw Test",
                "display_phone_number": DISPLAY_NUMBER,
                "id": self.phone_number_id,
                "quality_rating": "GREEN",
            }
            return 200, profile, {}
        if method == "POST" and parts[1:] == ["messages"]:
            return self._message(body)
        return _error(Failure(400, 100, "Unknown path components", "OAuthException"))

    def _message(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return _error(Failure(400, 100, "The parameter messaging_product is required."))
        text = body.get("text", {}).get("body", "") if body.get("type") == "text" else ""
        if len(text) > TEXT_LIMIT:
            return _error(
                Failure(400, 100, "Param text['body'] must be at most 4096 characters long.")
            )
        if body.get("status") == "read":
            with self._lock:
                self.sent.append(Sent(body, str(body.get("message_id"))))
            return 200, {"success": True}, {}
        wamid = _wamid()
        with self._lock:
            self.sent.append(Sent(body, wamid))
        to = body.get("to")
        return (
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wamid}],
            },
            {},
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        meta = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._route("GET", None)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                self._route("POST", body)

            def _route(self, method: str, body: Any) -> None:
                parts = [p for p in self.path.split("?")[0].split("/") if p]
                if parts and parts[0].startswith("v"):
                    parts = parts[1:]
                auth = self.headers.get("authorization", "")
                status, payload, headers = meta._answer(method, parts, auth, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _contact(wa_id: str, name: str) -> list[dict[str, Any]]:
    return [{"profile": {"name": name}, "wa_id": wa_id}]


def _error(failure: Failure) -> tuple[int, Any, dict[str, str]]:
    error = {
        "message": failure.message,
        "type": failure.error_type,
        "code": failure.code,
        "fbtrace_id": "AbCdEfGhIjK",
    }
    headers = {"retry-after": failure.retry_after} if failure.retry_after else {}
    return failure.status, {"error": error}, headers
