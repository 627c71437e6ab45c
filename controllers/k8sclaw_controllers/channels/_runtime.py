"""What every channel pod shares, around one platform adapter (`_adapter.py`).

- The bus, as the instance's channel identity (`busauth.channel_permissions`): it can
  publish only `channel.message.received`/`channel.health.update` for its own instance
  and read only the router's deliveries to it.
- Inbound (`Inbound`): allow lists applied (a sender or chat not listed is dropped and
  logged, never run), text cleaned and capped, published with a message id made of
  channel, chat and message id, so a platform update seen twice is stored once.
- Health: every change published as a `HealthReport` (and again every `HEALTH_INTERVAL`
  seconds, so a restarted controller learns it) and served on `/healthz`.
- The adapter's receive loop runs forever, restarted with exponential back-off; a refused
  token is `Error: unauthorized: …`, an outage `Disconnected`.
- Outbound: `_deliveries.Deliverer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Final

from k8sclaw_controllers.channels._adapter import (
    Adapter,
    ChannelConfig,
    PlatformError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
)
from k8sclaw_controllers.channels._clean import clean_id, clean_text
from k8sclaw_controllers.channels._deliveries import Deliverer
from k8sclaw_controllers.channels._healthz import HealthServer
from k8sclaw_controllers.channels._settings import RuntimeSettings
from k8sclaw_protocol import busauth, events
from k8sclaw_protocol._bus import Backoff, BusError, EventBus
from k8sclaw_protocol._chat import HealthReport, HealthState, InboundMessage

log = logging.getLogger("k8sclaw.channel")
HEALTH_INTERVAL: Final = 30.0
MAX_HEALTH_MESSAGE: Final = 1024


class ChannelRuntime:
    """Runs one adapter for one instance; implements `Inbound` for it."""

    def __init__(self, config: ChannelConfig, adapter: Adapter, settings: RuntimeSettings) -> None:
        self.config = config
        self.adapter = adapter
        self.settings = settings
        self.scope = (config.namespace, config.instance)
        self._state: tuple[HealthState, str | None] = ("Disconnected", "starting")
        self._went_up = False
        self._receiving = False
        """The adapter's receive loop is live and has reported Connected."""
        self._health_changed = asyncio.Event()
        self._bus: EventBus | None = None
        self.deliverer = Deliverer(
            adapter,
            self.scope,
            backoff=(settings.backoff_initial, settings.backoff_max),
            on_error=self._platform_error,
            on_recovered=self._sent_again,
        )
        self.healthz = HealthServer(lambda: self._state, settings.health_port)

    @property
    def state(self) -> tuple[HealthState, str | None]:
        return self._state

    async def run(self) -> None:
        """Serve until cancelled; closes everything on the way out."""
        await self.healthz.start()
        try:
            self._bus = await self._connect()
            async with asyncio.TaskGroup() as group:
                group.create_task(self.deliverer.consume(self._bus), name="deliveries")
                group.create_task(self._supervise(), name="adapter")
                group.create_task(self._report_health(), name="health")
        finally:
            with contextlib.suppress(Exception):
                await self.adapter.close()
            if self._bus is not None:
                await self._bus.close()
            await self.healthz.close()

    async def _connect(self) -> EventBus:
        permissions = busauth.channel_permissions(*self.scope)
        return await EventBus.connect(
            self.settings.bus_url,
            name=f"k8sclaw-channel-{self.config.channel}-{self.config.instance}",
            credentials=self.settings.creds_file,
            inbox_prefix=permissions.inbox_prefix,
            manage_stream=False,
            backoff=Backoff(0.1, min(self.settings.backoff_max, 2.0)),
        )

    # Inbound -------------------------------------------------------------------------

    async def received(self, message: InboundMessage) -> None:
        """Publish a person's message (waits, retrying, until the bus has stored it, so an
        adapter acknowledges the platform only afterwards)."""
        if not self._allowed(message):
            return
        message = message.model_copy(
            update={
                "text": clean_text(message.text),
                "sender_name": clean_id(message.sender_name) if message.sender_name else None,
            }
        )
        data = message.model_dump(mode="json", by_alias=True, exclude_none=True)
        event = events.Event.new(events.CHANNEL_MESSAGE_RECEIVED, data)
        key = f"{message.channel}\0{message.chat_id}\0{message.message_id}"
        msg_id = hashlib.sha256(key.encode()).hexdigest()[:40]
        assert self._bus is not None, "received() before the bus is connected"
        await self._bus.publish(event, scope=self.scope, msg_id=msg_id, retry=True)

    async def health(self, state: HealthState, message: str | None = None) -> None:
        """Record and publish a change of the platform connection."""
        message = _one_line(message)
        if state == "Connected":
            self._went_up = self._receiving = True
        if (state, message) == self._state:
            return
        log.info("channel %s: %s%s", self.config.channel, state, f" ({message})" if message else "")
        self._state = (state, message)
        self._health_changed.set()

    def _allowed(self, message: InboundMessage) -> bool:
        senders, chats = self.config.allowed_senders, self.config.allowed_chats
        if senders is not None and message.sender_id not in senders:
            log.info("dropped a message from sender %s: not in the allow list", message.sender_id)
            return False
        if chats is not None and message.chat_id not in chats:
            log.info("dropped a message in chat %s: not in the allow list", message.chat_id)
            return False
        return True

    # Health --------------------------------------------------------------------------

    async def _publish_health(self) -> bool:
        if self._bus is None:
            return False
        state, message = self._state
        report = HealthReport(channel=self.config.channel, state=state, message=message)
        event = events.Event.new(
            events.CHANNEL_HEALTH_UPDATE, report.model_dump(by_alias=True, exclude_none=True)
        )
        try:
            await self._bus.publish(event, scope=self.scope)
        except BusError as exc:
            log.info("health report not published (%s); retrying", exc)
            return False
        return True

    async def _report_health(self) -> None:
        """Publish each change at once (retried until the bus takes it), and the current
        state every `HEALTH_INTERVAL` seconds."""
        while True:
            if not await self._publish_health():
                await asyncio.sleep(self.settings.backoff_initial)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._health_changed.wait(), HEALTH_INTERVAL)
            self._health_changed.clear()

    async def _platform_error(self, exc: PlatformError) -> None:
        state, message = _health_of(exc)
        await self.health(state, message)

    async def _sent_again(self) -> None:
        """A delivery went through after failing: if the failure is what the health shows
        and the receive loop stayed up meanwhile (WhatsApp's webhook, a socket that
        outlived a Web API outage), nothing else would ever report Connected again."""
        if self._receiving and self._state[0] != "Connected":
            await self.health("Connected")

    # The receive loop ----------------------------------------------------------------

    async def _supervise(self) -> None:
        """`adapter.run` forever; after each end, report why and back off (reset once the
        platform connection had come up)."""
        delay = self.settings.backoff_initial
        while True:
            self._went_up = False
            wait = 0.0
            try:
                try:
                    await self.adapter.run(self)
                finally:
                    self._receiving = False
                raise UnavailableError("the platform connection ended")
            except RateLimitedError as exc:
                wait = exc.retry_after
                await self._platform_error(exc)
            except PlatformError as exc:
                await self._platform_error(exc)
            except Exception as exc:  # an adapter bug must not end the pod's service
                log.exception("the %s adapter failed", self.config.channel)
                await self.health("Disconnected", f"internal error: {type(exc).__name__}")
            if self._went_up:
                delay = self.settings.backoff_initial
            await asyncio.sleep(max(wait, delay))
            delay = min(delay * 2, self.settings.backoff_max)


def _health_of(exc: PlatformError) -> tuple[HealthState, str]:
    if isinstance(exc, UnauthorizedError):
        return "Error", f"unauthorized: {exc}"
    if isinstance(exc, RateLimitedError):
        return "Disconnected", f"rate limited: {exc}"
    if isinstance(exc, UnavailableError):
        return "Disconnected", str(exc) or "the platform is unreachable"
    return "Error", str(exc) or type(exc).__name__


def _one_line(message: str | None) -> str | None:
    """A health message as shown in the instance status: one line, capped."""
    if not message:
        return None
    return clean_text(message, MAX_HEALTH_MESSAGE * 2).replace("\n", " ")[:MAX_HEALTH_MESSAGE]
