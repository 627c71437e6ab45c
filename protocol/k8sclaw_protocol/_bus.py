"""The one NATS JetStream client every component uses (never re-implemented elsewhere).

`EventBus.connect` reconnects forever with back-off, creates or updates the `k8sclaw`
stream idempotently, publishes with a server acknowledgement (optionally retrying
until acknowledged, deduplicated by message id) and hands out durable or ephemeral
pull subscriptions that re-create their consumer after a server restart (the
upstream controller lost its subscriptions forever after one; reference §15).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client, RawCredentials
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, NotFoundError

from k8sclaw_protocol import _busjwt, _events, _subscription
from k8sclaw_protocol._subscription import CLOSE_POLL, Deliver, Subscription

__all__ = [
    "CLOSE_POLL",
    "Backoff",
    "BusError",
    "Deliver",
    "EventBus",
    "PayloadTooLargeError",
    "Subscription",
]

log = logging.getLogger("k8sclaw.bus")

Scope = tuple[str, str]
"""(namespace, name) an event concerns: its subject is `k8sclaw.<topic>.<ns>.<name>`."""
Credentials = str | Path | _busjwt.UserCreds
"""A `.creds` file path, or a user's JWT and seed in memory."""
_RETRYABLE = _subscription.RETRYABLE


class BusError(Exception):
    """The event bus could not do what was asked (message names the cause)."""


class PayloadTooLargeError(BusError):
    """An event over `events.MAX_EVENT_BYTES`: permanent, never retried (issue #13 item 5)."""


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off between retries: initial, doubled each time, capped."""

    initial: float = 0.05
    maximum: float = 2.0

    async def delays(self) -> AsyncIterator[float]:
        """Endless: yields the next delay, then sleeps it before the following one."""
        delay = self.initial
        while True:
            yield delay
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.maximum)


class EventBus:
    """A connected bus: publish events and subscribe to topics."""

    def __init__(self, nc: Client, backoff: Backoff, *, manage_stream: bool = True) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self._backoff = backoff
        self.manage_stream = manage_stream
        self.reconnects = 0
        self.closing = False  # `close` was called: the disconnect that follows is ours
        self.oversized = 0
        """Events refused for size (a permanent error each; see `PayloadTooLargeError`)."""

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        name: str = "k8sclaw",
        backoff: Backoff | None = None,
        credentials: Credentials | None = None,
        inbox_prefix: str | None = None,
        manage_stream: bool = True,
    ) -> EventBus:
        """Connect (retrying forever until the server answers) and ensure the stream.

        `credentials` identify this component (the bus refuses anonymous clients);
        `inbox_prefix` is the reply prefix a scoped user may subscribe to; a component
        without stream rights (a run's bridge) passes `manage_stream=False`.
        """
        backoff = backoff or Backoff()
        holder: list[EventBus] = []
        options = _options(url, backoff, holder, credentials, inbox_prefix)
        async for _ in backoff.delays():
            try:
                nc = await nats.connect(url, name=name, **options)
                break
            except _RETRYABLE as exc:
                log.warning("cannot reach the event bus at %s (%s); retrying", url, exc)
        bus = cls(nc, backoff, manage_stream=manage_stream)
        holder.append(bus)
        if manage_stream:
            await bus.ensure_stream()
        return bus

    @property
    def connected(self) -> bool:
        return bool(self._nc.is_connected)

    async def close(self) -> None:
        """Flush pending messages and close the connection.

        Not `drain()`: draining waits for pull-subscription inboxes for up to 30 s,
        and every publish that matters was acknowledged already.
        """
        self.closing = True
        with contextlib.suppress(*_RETRYABLE):
            await self._nc.flush(timeout=2)
        if not self._nc.is_closed:
            # During an outage nats-py's close fails flushing its buffer: closed anyway.
            with contextlib.suppress(*_RETRYABLE):
                await self._nc.close()

    async def ensure_stream(self) -> None:
        """Create or update the `k8sclaw` stream; retries forever (JetStream may be starting)."""
        config = api.StreamConfig(
            name=_events.STREAM_NAME,
            subjects=list(_events.STREAM_SUBJECTS),
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            max_age=_events.STREAM_MAX_AGE_SECONDS,
            max_msg_size=_events.MAX_PAYLOAD_BYTES,
            num_replicas=1,
        )
        async for _ in self._backoff.delays():
            try:
                try:
                    info = await self._js.stream_info(_events.STREAM_NAME)
                    # Unchanged: no update, so readers without stream rights connect too.
                    if not _same_stream(info.config, config):
                        await self._js.update_stream(config)
                except NotFoundError:
                    await self._js.add_stream(config)
                return
            except BadRequestError as exc:
                raise BusError(f"the server rejected stream {_events.STREAM_NAME}: {exc}") from exc
            except _RETRYABLE as exc:
                log.warning("cannot set up stream %s (%s); retrying", _events.STREAM_NAME, exc)

    def _payload(self, event: _events.Event) -> bytes:
        payload = event.to_bytes()
        if len(payload) > _events.MAX_EVENT_BYTES:
            self.oversized += 1
            raise PayloadTooLargeError(
                f"{event.topic} event of {len(payload)} bytes exceeds the bus cap of "
                f"{_events.MAX_EVENT_BYTES} bytes; not published"
            )
        return payload

    async def publish(
        self,
        event: _events.Event,
        *,
        scope: Scope,
        msg_id: str | None = None,
        retry: bool = False,
        give_up_after: float | None = None,
    ) -> int:
        """Publish on `k8sclaw.<topic>.<ns>.<name>` with a JetStream ack; returns the
        stream sequence.

        With `retry`, keeps trying with back-off until the server acknowledges (used
        for results that must never be lost) or `give_up_after` seconds have passed
        (then BusError); `msg_id` lets the server drop the duplicate when an ack was
        lost but the message stored. An oversized event raises `PayloadTooLargeError` at once.
        """
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        payload = self._payload(event)
        subject = _events.scoped_subject(event.topic, *scope)
        loop = asyncio.get_running_loop()
        deadline = None if give_up_after is None else loop.time() + give_up_after
        async for _ in self._backoff.delays():
            try:
                ack = await self._js.publish(subject, payload, timeout=2, headers=headers)
                return int(ack.seq)
            except nats.errors.MaxPayloadError as exc:
                self.oversized += 1
                raise PayloadTooLargeError(f"publish to {subject} refused: {exc}") from exc
            except _RETRYABLE as exc:
                if not retry or (deadline is not None and loop.time() >= deadline):
                    raise BusError(f"publish to {subject} failed: {exc}") from exc
                log.warning("publish to %s not acknowledged (%s); retrying", subject, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    async def signal(self, event: _events.Event, *, scope: Scope, msg_id: str) -> None:
        """Publish a best-effort signal (a typing indicator) without awaiting its ack.

        The stream stores it like any publish on its subject (deduplicated by `msg_id`);
        only the acknowledgement round trip is skipped, which halves the cost of a
        signal whose loss is harmless because it is repeated. Fails (BusError) only
        when it cannot even be buffered: an oversized event, or no connection.
        """
        subject = _events.scoped_subject(event.topic, *scope)
        try:
            await self._nc.publish(subject, self._payload(event), headers={"Nats-Msg-Id": msg_id})
        except _RETRYABLE as exc:
            raise BusError(f"signal on {subject} not sent: {exc}") from exc

    async def publish_many(
        self,
        items: Sequence[tuple[_events.Event, str | None]],
        *,
        scope: Scope,
        retry: bool = False,
    ) -> list[int | None]:
        """Publish `(event, msg_id)` pairs pipelined: all sent in order, then acks awaited.

        One round trip for a burst instead of one per event. An event whose ack fails
        or does not come within 2 s is published again on its own through `publish`
        (same `retry` rule; its message id makes a stored duplicate harmless). An
        oversized event is skipped with a log line (None in its place): it must never
        hold up the rest.
        """
        futures = [await self._send_async(event, msg_id, scope) for event, msg_id in items]
        seqs: list[int | None] = []
        for (event, msg_id), future in zip(items, futures, strict=True):
            try:
                if future is _SKIPPED:
                    seqs.append(None)
                    continue
                if future is None:
                    raise TimeoutError("not sent")
                ack = await asyncio.wait_for(future, 2)
                seqs.append(int(ack.seq))
            except _RETRYABLE:
                seqs.append(await self._publish_or_skip(event, scope, msg_id, retry))
        return seqs

    async def _send_async(
        self, event: _events.Event, msg_id: str | None, scope: Scope
    ) -> asyncio.Future[Any] | None:
        """The ack future of a pipelined publish; `_SKIPPED` when oversized, None when the
        send itself failed (published again on its own)."""
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        try:
            payload = self._payload(event)
        except PayloadTooLargeError as exc:
            log.error("%s", exc)
            return _SKIPPED
        subject = _events.scoped_subject(event.topic, *scope)
        try:
            future: asyncio.Future[Any] = await self._js.publish_async(
                subject, payload, headers=headers
            )
            return future
        except _RETRYABLE:
            return None

    async def _publish_or_skip(
        self, event: _events.Event, scope: Scope, msg_id: str | None, retry: bool
    ) -> int | None:
        try:
            return await self.publish(event, scope=scope, msg_id=msg_id, retry=retry)
        except PayloadTooLargeError as exc:
            log.error("%s", exc)
            return None

    def subscribe(
        self,
        topic: str,
        *,
        durable: str | None = None,
        deliver: Deliver = "new",
        since: datetime | None = None,
        manual_ack: bool = False,
    ) -> Subscription:
        """A pull subscription on one topic (wildcards allowed); durable when named.

        `since` delivers only events stored at or after that time (a re-created run
        never sees its predecessor's follow-ups); it overrides `deliver`. With
        `manual_ack`, the caller acknowledges each event with `Subscription.ack` once it
        has done its work (e.g. committed it), so a crash before then means redelivery.
        """
        return Subscription(self, topic, durable, since or deliver, manual_ack=manual_ack)

    async def _consumer(
        self, topic: str, durable: str | None, deliver: Deliver | datetime, start_seq: int | None
    ) -> JetStreamContext.PullSubscription:
        opt_time = None
        if start_seq is not None:
            policy, opt = api.DeliverPolicy.BY_START_SEQUENCE, start_seq
        elif isinstance(deliver, datetime):
            policy, opt = api.DeliverPolicy.BY_START_TIME, None
            opt_time = deliver
        else:
            policy = api.DeliverPolicy.NEW if deliver == "new" else api.DeliverPolicy.ALL
            opt = None
        config = api.ConsumerConfig(
            deliver_policy=policy,
            opt_start_seq=opt,
            opt_start_time=opt_time,
            ack_policy=api.AckPolicy.EXPLICIT,
            inactive_threshold=CONSUMER_IDLE_SECONDS if durable else None,
        )
        return await self._js.pull_subscribe(
            _events.subject(topic), durable=durable, stream=_events.STREAM_NAME, config=config
        )


_SKIPPED: asyncio.Future[Any] = asyncio.Future.__new__(asyncio.Future)
"""Placeholder for an oversized event in `publish_many` (never awaited)."""


def _same_stream(current: api.StreamConfig, wanted: api.StreamConfig) -> bool:
    fields = ("subjects", "max_age", "max_msg_size", "storage", "retention")
    return all(getattr(current, f) == getattr(wanted, f) for f in fields)


CONSUMER_IDLE_SECONDS = 24 * 3600.0
"""A durable consumer nobody pulled from for this long is removed by the server (a run's
consumers outlive their pod by at most this; the controller's are pulled constantly)."""


def _options(
    url: str,
    backoff: Backoff,
    holder: list[EventBus],
    credentials: Credentials | None,
    inbox_prefix: str | None,
) -> dict[str, Any]:
    """nats-py connect options: reconnect forever, callbacks, identity."""

    async def reconnected() -> None:
        if holder:
            holder[0].reconnects += 1
        log.info("reconnected to %s", url)

    async def disconnected() -> None:
        if holder and holder[0].closing:  # nats-py reports its own close as a disconnect
            log.debug("closed the connection to %s", url)
            return
        log.warning("disconnected from %s; reconnecting", url)

    async def error(exc: Exception) -> None:
        # Permission violations land here: worth a warning (a bug or an attack).
        level = logging.WARNING if "permissions violation" in str(exc).lower() else logging.DEBUG
        log.log(level, "nats error: %s", exc)

    options: dict[str, Any] = {
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": backoff.maximum,
        "connect_timeout": 2,
        "reconnected_cb": reconnected,
        "disconnected_cb": disconnected,
        "error_cb": error,
    }
    if isinstance(credentials, _busjwt.UserCreds):
        options["user_credentials"] = RawCredentials(credentials.text())
    elif credentials is not None:
        options["user_credentials"] = str(credentials)
    if inbox_prefix:
        options["inbox_prefix"] = inbox_prefix
    return options
