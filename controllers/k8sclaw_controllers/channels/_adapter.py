"""The contract between the channel runtime and one chat platform's adapter.

The runtime (`_runtime.py`) owns everything platforms share: the bus, health reports and
`/healthz`, allow lists, delivery ids sent at most once, reconnecting with back-off,
splitting long replies. An adapter owns only its platform: its SDK, its wire format, its
own/bot message detection and its rate-limit answers, reported as the errors below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from k8sclaw_protocol._chat import Delivery, HealthState, InboundMessage
from k8sclaw_protocol._instance import ChannelMode, ChannelType


class PlatformError(Exception):
    """The platform refused or could not be reached; `str()` is the platform's own words."""


class UnauthorizedError(PlatformError):
    """The token was refused: health `Error: unauthorized`; retried slowly (a fixed
    Secret rolls the pod anyway)."""


class RateLimitedError(PlatformError):
    """HTTP 429 or the platform's equivalent: wait `retry_after` seconds, then retry."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnavailableError(PlatformError):
    """Network error or 5xx: health `Disconnected`; reconnect with back-off."""


@dataclass(frozen=True)
class ChannelConfig:
    """What an adapter is told at start (from the pod's environment)."""

    channel: ChannelType
    instance: str
    namespace: str
    env: Mapping[str, str]
    """The channel Secret's keys (reference §7.2) and the endpoint overrides
    (`TELEGRAM_API_URL`, `SLACK_API_URL`, `DISCORD_API_URL`, `DISCORD_GATEWAY_URL`,
    `WHATSAPP_API_URL`)."""
    mode: ChannelMode | None = None
    listen_host: str = "0.0.0.0"
    listen_port: int = 3000
    """Where webhook-mode adapters serve the platform's callbacks."""
    allowed_senders: frozenset[str] | None = None
    allowed_chats: frozenset[str] | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


class Inbound(Protocol):
    """Where an adapter hands what it heard (implemented by the runtime)."""

    async def received(self, message: InboundMessage) -> None:
        """A person's message or button press (never the bot's own or another bot's)."""

    async def health(self, state: HealthState, message: str | None = None) -> None:
        """The platform connection changed (Connected once the platform accepted the
        token and the receive loop is live)."""


class Adapter(Protocol):
    """One chat platform."""

    channel: ClassVar[ChannelType]
    text_limit: ClassVar[int]
    """The platform's maximum message length, in the unit the platform counts."""

    async def run(self, inbound: Inbound) -> None:
        """Receive until cancelled. Raises `PlatformError` when the connection is lost or
        refused; the runtime reports it and calls `run` again after a back-off."""

    def render(self, markdown: str) -> list[str]:
        """The reply in the platform's format, cut into messages within `text_limit`
        (`_split.split_text` for the cutting), none empty, nothing dropped."""

    async def send_text(self, delivery: Delivery, parts: list[str]) -> None:
        """Post `parts` in order in the delivery's chat/thread (the first replying to
        `delivery.reply_to` where supported). Raises `RateLimitedError`/`UnavailableError`/
        `UnauthorizedError`; the runtime retries from the first part not yet sent."""

    async def send_typing(self, delivery: Delivery) -> None:
        """Show "working…" in the chat (best effort; errors are logged, not retried)."""

    async def send_approval(self, delivery: Delivery) -> None:
        """Post `delivery.approval` as a card with Approve/Deny buttons; a press comes back
        through `Inbound.received` as an `InboundMessage` with `action` set."""

    async def close(self) -> None:
        """Release sockets and sessions."""
