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
from typing import Any, Literal

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import ValidationError

from k8sclaw_protocol import _events

log = logging.getLogger("k8sclaw.bus")

Deliver = Literal["new", "all"]
_RETRYABLE = (nats.errors.Error, TimeoutError, OSError)
CLOSE_POLL = 0.5
"""Seconds between repeated cancels while a subscription closes."""
FETCH_WAIT = 0.5
"""Seconds one pull request waits for messages."""


class BusError(Exception):
    """The event bus could not do what was asked (message names the cause)."""


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

    def __init__(self, nc: Client, backoff: Backoff) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self._backoff = backoff
        self.reconnects = 0

    @classmethod
    async def connect(
        cls, url: str, *, name: str = "k8sclaw", backoff: Backoff | None = None
    ) -> EventBus:
        """Connect (retrying forever until the server answers) and ensure the stream."""
        backoff = backoff or Backoff()
        holder: list[EventBus] = []

        async def reconnected() -> None:
            if holder:
                holder[0].reconnects += 1
            log.info("reconnected to %s", url)

        async def disconnected() -> None:
            log.warning("disconnected from %s; reconnecting", url)

        async def error(exc: Exception) -> None:
            log.debug("nats error: %s", exc)

        async for _ in backoff.delays():
            try:
                nc = await nats.connect(
                    url,
                    name=name,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=backoff.maximum,
                    connect_timeout=2,
                    reconnected_cb=reconnected,
                    disconnected_cb=disconnected,
                    error_cb=error,
                )
                break
            except _RETRYABLE as exc:
                log.warning("cannot reach the event bus at %s (%s); retrying", url, exc)
        bus = cls(nc, backoff)
        holder.append(bus)
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
        with contextlib.suppress(*_RETRYABLE):
            await self._nc.flush(timeout=2)
        if not self._nc.is_closed:
            await self._nc.close()

    async def ensure_stream(self) -> None:
        """Create or update the `k8sclaw` stream; retries forever (JetStream may be starting)."""
        config = api.StreamConfig(
            name=_events.STREAM_NAME,
            subjects=list(_events.STREAM_SUBJECTS),
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            max_age=_events.STREAM_MAX_AGE_SECONDS,
            num_replicas=1,
        )
        async for _ in self._backoff.delays():
            try:
                try:
                    await self._js.stream_info(_events.STREAM_NAME)
                    await self._js.update_stream(config)
                except NotFoundError:
                    await self._js.add_stream(config)
                return
            except BadRequestError as exc:
                raise BusError(f"the server rejected stream {_events.STREAM_NAME}: {exc}") from exc
            except _RETRYABLE as exc:
                log.warning("cannot set up stream %s (%s); retrying", _events.STREAM_NAME, exc)

    async def publish(
        self, event: _events.Event, *, msg_id: str | None = None, retry: bool = False
    ) -> int:
        """Publish with a JetStream ack; returns the stream sequence.

        With `retry`, keeps trying with back-off until the server acknowledges (used
        for results that must never be lost); `msg_id` lets the server drop the
        duplicate when an ack was lost but the message stored.
        """
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        payload = event.to_bytes()
        subject = _events.subject(event.topic)
        async for _ in self._backoff.delays():
            try:
                ack = await self._js.publish(subject, payload, timeout=2, headers=headers)
                return int(ack.seq)
            except _RETRYABLE as exc:
                if not retry:
                    raise BusError(f"publish to {subject} failed: {exc}") from exc
                log.warning("publish to %s not acknowledged (%s); retrying", subject, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    async def publish_many(
        self, items: Sequence[tuple[_events.Event, str | None]], *, retry: bool = False
    ) -> list[int]:
        """Publish `(event, msg_id)` pairs pipelined: all sent in order, then acks awaited.

        One round trip for a burst instead of one per event. An event whose ack fails
        or does not come within 2 s is published again on its own through `publish`
        (same `retry` rule; its message id makes a stored duplicate harmless).
        """
        futures: list[asyncio.Future[Any] | None] = []
        for event, msg_id in items:
            headers = {"Nats-Msg-Id": msg_id} if msg_id else None
            try:
                subject = _events.subject(event.topic)
                futures.append(
                    await self._js.publish_async(subject, event.to_bytes(), headers=headers)
                )
            except _RETRYABLE:
                futures.append(None)
        seqs = []
        for (event, msg_id), future in zip(items, futures, strict=True):
            try:
                if future is None:
                    raise TimeoutError("not sent")
                ack = await asyncio.wait_for(future, 2)
                seqs.append(int(ack.seq))
            except _RETRYABLE:
                seqs.append(await self.publish(event, msg_id=msg_id, retry=retry))
        return seqs

    def subscribe(
        self,
        topic: str,
        *,
        durable: str | None = None,
        deliver: Deliver = "new",
        manual_ack: bool = False,
    ) -> Subscription:
        """A pull subscription on one topic (wildcards allowed); durable when named.

        With `manual_ack`, the caller acknowledges each event with `Subscription.ack` once
        it has done its work (e.g. committed it), so a crash before then means redelivery.
        """
        return Subscription(self, topic, durable, deliver, manual_ack=manual_ack)

    async def _consumer(
        self, topic: str, durable: str | None, deliver: Deliver, start_seq: int | None
    ) -> JetStreamContext.PullSubscription:
        if start_seq is not None:
            policy, opt = api.DeliverPolicy.BY_START_SEQUENCE, start_seq
        else:
            policy = api.DeliverPolicy.NEW if deliver == "new" else api.DeliverPolicy.ALL
            opt = None
        config = api.ConsumerConfig(
            deliver_policy=policy, opt_start_seq=opt, ack_policy=api.AckPolicy.EXPLICIT
        )
        return await self._js.pull_subscribe(
            _events.subject(topic), durable=durable, stream=_events.STREAM_NAME, config=config
        )


class Subscription:
    """Iterate events of one topic; the consumer is re-created after a server restart.

    Messages are acknowledged when handed to the iterator, or with `manual_ack` when the
    caller calls `ack` (unacknowledged ones are nak'ed on close, so the next consumer gets
    them at once); malformed envelopes are acknowledged and dropped with a log line (they
    would otherwise be redelivered forever). An ephemeral consumer resumes after the last
    delivered sequence.
    """

    def __init__(
        self,
        bus: EventBus,
        topic: str,
        durable: str | None,
        deliver: Deliver,
        *,
        manual_ack: bool = False,
    ) -> None:
        self._bus, self._topic, self._durable, self._deliver = bus, topic, durable, deliver
        self._manual_ack = manual_ack
        self._unacked: dict[int, Any] = {}  # stream sequence -> latest delivery of it
        self._fetch_until = 0.0  # loop time when the pull request last sent expires
        self._queue: asyncio.Queue[_events.Event] = asyncio.Queue(maxsize=256)
        self._last_seq: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = False

    async def start(self) -> Subscription:
        """Create the consumer and start pulling; returns once the consumer exists."""
        if self._task is None:
            self._task = asyncio.create_task(self._pump(), name=f"bus-sub-{self._topic}")
        waiter = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            await self._task  # re-raises the pump's failure
        return self

    async def __aenter__(self) -> Subscription:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> _events.Event:
        return await self._queue.get()

    async def next(self, wait: float | None = None) -> _events.Event:
        """The next event, or TimeoutError after `wait` seconds."""
        return await asyncio.wait_for(self._queue.get(), wait)

    def ready(self, limit: int) -> list[_events.Event]:
        """Up to `limit` events already received, without waiting (for batching readers)."""
        taken: list[_events.Event] = []
        while len(taken) < limit and not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken

    async def ack(self, *events: _events.Event) -> None:
        """Acknowledge events handed out by a `manual_ack` subscription (others: no-op)."""
        for event in events:
            msg = self._unacked.pop(event.sequence or 0, None)
            if msg is not None:
                with contextlib.suppress(*_RETRYABLE):
                    await msg.ack()

    async def close(self) -> None:
        """Stop pulling. On Python 3.11 `asyncio.wait_for` (inside nats' fetch) can swallow
        a cancellation that races its timeout (gh-86296), which left the pump running and
        this await hanging; so the pump also checks a flag, and the cancel is repeated
        until the task has really ended."""
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=CLOSE_POLL)
        if not task.cancelled() and task.exception() is not None:
            log.warning("subscription to %s ended with %r", self._topic, task.exception())
        unacked, self._unacked = list(self._unacked.values()), {}
        if unacked or self._durable:
            # The pull request the pump left open would swallow nak'ed or new messages of
            # the durable consumer (nobody reads it; they would come back only after the
            # ack wait): let it expire first, so the next consumer gets them at once.
            await asyncio.sleep(max(0.0, self._fetch_until - asyncio.get_running_loop().time()))
        for msg in unacked:
            with contextlib.suppress(*_RETRYABLE):
                await msg.nak()

    async def _subscribe(self) -> tuple[JetStreamContext.PullSubscription, int]:
        start = None if self._last_seq is None or self._durable else self._last_seq + 1
        async for _ in self._bus._backoff.delays():
            try:
                await self._bus.ensure_stream()
                psub = await self._bus._consumer(self._topic, self._durable, self._deliver, start)
                return psub, self._bus.reconnects
            except _RETRYABLE as exc:
                log.warning("cannot subscribe to %s (%s); retrying", self._topic, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _pump(self) -> None:
        psub, seen_reconnects = await self._subscribe()
        self._ready.set()
        while not self._closing:
            try:
                self._fetch_until = asyncio.get_running_loop().time() + FETCH_WAIT + 0.05
                msgs = await psub.fetch(16, timeout=FETCH_WAIT)
            except TimeoutError:
                if self._bus.reconnects == seen_reconnects or not self._bus.connected:
                    continue
                # The server restarted: its ephemeral consumer may be gone.
                psub, seen_reconnects = await self._resubscribe(psub)
                continue
            except _RETRYABLE as exc:
                log.warning("fetch on %s failed (%s); re-subscribing", self._topic, exc)
                psub, seen_reconnects = await self._resubscribe(psub)
                continue
            for msg in msgs:
                await self._deliver_one(msg)

    async def _resubscribe(
        self, old: JetStreamContext.PullSubscription
    ) -> tuple[JetStreamContext.PullSubscription, int]:
        with contextlib.suppress(*_RETRYABLE):
            await old.unsubscribe()
        return await self._subscribe()

    async def _deliver_one(self, msg: Any) -> None:
        seq = int(msg.metadata.sequence.stream)
        try:
            event = _events.Event.from_bytes(msg.data).delivered(msg.subject, seq)
        except ValidationError as exc:
            log.warning("dropping malformed event on %s: %s", msg.subject, exc.errors()[:1])
        else:
            if self._manual_ack:
                await self._hand_out_unacked(seq, msg, event)
                return
            # A sequence already handed out is a redelivery after a re-subscribe.
            if self._last_seq is None or seq > self._last_seq:
                self._last_seq = seq
                await self._queue.put(event)
        with contextlib.suppress(*_RETRYABLE):
            await msg.ack()

    async def _hand_out_unacked(self, seq: int, msg: Any, event: _events.Event) -> None:
        """Manual ack: redeliveries (after a nak, an ack wait, a restart) come in any order,
        so every sequence not being worked on is handed out; the owner acks it."""
        known = seq in self._unacked
        self._unacked[seq] = msg  # the owner acks the latest delivery
        if not known:
            self._last_seq = max(seq, self._last_seq or 0)
            await self._queue.put(event)
