"""The outbound half of a channel pod: the router's deliveries to this instance, sent to
the platform at most once each, acknowledged on the bus only once the platform took them.

A platform outage therefore loses nothing (the delivery waits, retried with back-off, and
a pod restart gets it again from the durable consumer), and a redelivery of something
already sent (an ack lost in a NATS restart) is recognised by its id and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from pydantic import ValidationError

from k8sclaw_controllers.channels._adapter import (
    Adapter,
    PlatformError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
)
from k8sclaw_protocol import busauth, events
from k8sclaw_protocol._bus import EventBus
from k8sclaw_protocol._chat import Delivery

log = logging.getLogger("k8sclaw.channel.deliveries")
REMEMBERED_IDS: Final = 4096
"""Delivery ids kept to recognise redeliveries (far more than can be in flight)."""
NEW_CONSUMER_LOOKBACK: Final = timedelta(minutes=5)
"""A consumer created for the first time starts this far back, so a reply the router
published while the pod was starting is not missed (an existing consumer keeps its
position; older deliveries are not replayed)."""
MAX_RETRY_AFTER: Final = 600.0
"""A platform's retry-after is obeyed up to this many seconds per attempt."""

Send = Callable[[], Awaitable[None]]
OnError = Callable[[PlatformError], Awaitable[None]]
OnRecovered = Callable[[], Awaitable[None]]


class Deliverer:
    """Consumes `channel.message.deliver.<ns>.<instance>` and keeps this pod's type."""

    def __init__(
        self,
        adapter: Adapter,
        scope: tuple[str, str],
        *,
        backoff: tuple[float, float],
        on_error: OnError,
        on_recovered: OnRecovered | None = None,
    ) -> None:
        self._adapter = adapter
        self._scope = scope
        self._backoff = backoff
        self._on_error = on_error
        self._on_recovered = on_recovered
        self._sent: OrderedDict[str, None] = OrderedDict()
        self.sent_count = 0

    async def consume(self, bus: EventBus) -> None:
        """Forever: take each delivery, send it, then acknowledge it."""
        namespace, instance = self._scope
        subscription = bus.subscribe(
            events.scoped_filter(events.CHANNEL_MESSAGE_DELIVER, namespace, instance),
            durable=busauth.channel_consumer(namespace, instance, self._adapter.channel),
            since=datetime.now(UTC) - NEW_CONSUMER_LOOKBACK,
            manual_ack=True,
        )
        await subscription.start()
        try:
            async for event in subscription:
                await self.handle(event)
                await subscription.ack(event)
        finally:
            await subscription.close()

    async def handle(self, event: events.Event) -> None:
        """Send one delivery unless it is not ours, malformed, or already sent."""
        delivery = self._ours(event)
        if delivery is None or delivery.id in self._sent:
            return
        if delivery.kind == "typing":
            await self._typing(delivery)
        elif delivery.kind == "approval":
            if delivery.approval is None:
                log.warning("delivery %s: approval without a card; dropped", delivery.id)
                return
            await self._retrying(delivery, lambda: self._adapter.send_approval(delivery))
        else:
            await self._text(delivery)
        self._remember(delivery.id)

    def _ours(self, event: events.Event) -> Delivery | None:
        try:
            scoped = events.parse_subject(event.subject or "")
        except ValueError:
            return None
        if (scoped.namespace, scoped.name) != self._scope:
            return None  # the consumer's filter rules this out; never trust it alone
        try:
            delivery = Delivery.model_validate(event.data)
        except ValidationError as exc:
            log.warning("dropping malformed delivery: %s", exc.errors()[:1])
            return None
        if delivery.channel != self._adapter.channel:
            return None  # for another of the instance's channels
        return delivery

    async def _text(self, delivery: Delivery) -> None:
        parts = self._adapter.render(delivery.text) if delivery.text else []
        for index, part in enumerate(parts):
            # Only the first part replies to the user's message; a retry resumes here.
            current = delivery if index == 0 else delivery.model_copy(update={"reply_to": None})
            await self._retrying(delivery, _bind(self._adapter.send_text, current, [part]))
        self.sent_count += 1

    async def _typing(self, delivery: Delivery) -> None:
        try:
            await self._adapter.send_typing(delivery)
        except PlatformError as exc:
            log.info("typing indicator for %s not shown: %s", delivery.id, exc)

    async def _retrying(self, delivery: Delivery, send: Send) -> None:
        """`send()` until the platform accepts; a refusal other than an outage, a rate
        limit or a bad token is permanent (logged, not retried)."""
        delay, cap = self._backoff
        failed = False
        while True:
            try:
                await send()
                if failed and self._on_recovered is not None:
                    await self._on_recovered()  # the outage `on_error` reported is over
                return
            except RateLimitedError as exc:
                wait = min(max(exc.retry_after, delay), MAX_RETRY_AFTER)
                log.info("delivery %s rate limited; retrying in %.1fs", delivery.id, wait)
            except (UnavailableError, UnauthorizedError) as exc:
                failed = True
                await self._on_error(exc)
                wait = delay
                log.warning("delivery %s not sent (%s); retrying in %.1fs", delivery.id, exc, wait)
                delay = min(delay * 2, cap)
            except PlatformError as exc:
                log.error("delivery %s refused by the platform: %s; dropped", delivery.id, exc)
                return
            await asyncio.sleep(wait)

    def _remember(self, delivery_id: str) -> None:
        self._sent[delivery_id] = None
        while len(self._sent) > REMEMBERED_IDS:
            self._sent.popitem(last=False)


def _bind(
    send: Callable[[Delivery, list[str]], Awaitable[None]], delivery: Delivery, parts: list[str]
) -> Send:
    async def call() -> None:
        await send(delivery, parts)

    return call
