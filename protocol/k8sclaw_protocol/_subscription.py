"""Pull subscriptions of the bus client: iterate one topic's events, surviving restarts.

Split from `_bus` (which re-exports `Subscription`); see `EventBus.subscribe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import nats
from nats.js import JetStreamContext
from pydantic import ValidationError

from k8sclaw_protocol import _events

if TYPE_CHECKING:
    from k8sclaw_protocol._bus import EventBus

log = logging.getLogger("k8sclaw.bus")

Deliver = Literal["new", "all"]
RETRYABLE = (nats.errors.Error, TimeoutError, OSError)
CLOSE_POLL = 0.5
"""Seconds between repeated cancels while a subscription closes."""
FETCH_WAIT = 0.5
"""Seconds one pull request waits for messages."""
FETCH_BATCH = 64
"""Most messages one pull request takes. A pull returns as soon as the server has no more
ready, so a lone message is not held back; a burst comes in few round trips (with 16, a
burst of 100 chat messages reached the router a third slower, `bench/router.py`). The
queue (256 events) bounds what waits in memory either way."""


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
        deliver: Deliver | datetime,
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
                with contextlib.suppress(*RETRYABLE):
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
            with contextlib.suppress(*RETRYABLE):
                await msg.nak()

    async def _subscribe(self) -> tuple[JetStreamContext.PullSubscription, int]:
        start = None if self._last_seq is None or self._durable else self._last_seq + 1
        async for _ in self._bus._backoff.delays():
            try:
                if self._bus.manage_stream:
                    await self._bus.ensure_stream()
                psub = await self._bus._consumer(self._topic, self._durable, self._deliver, start)
                return psub, self._bus.reconnects
            except RETRYABLE as exc:
                log.warning("cannot subscribe to %s (%s); retrying", self._topic, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _pump(self) -> None:
        psub, seen_reconnects = await self._subscribe()
        self._ready.set()
        while not self._closing:
            try:
                self._fetch_until = asyncio.get_running_loop().time() + FETCH_WAIT + 0.05
                msgs = await psub.fetch(FETCH_BATCH, timeout=FETCH_WAIT)
            except TimeoutError:
                if self._bus.reconnects == seen_reconnects or not self._bus.connected:
                    continue
                # The server restarted: its ephemeral consumer may be gone.
                psub, seen_reconnects = await self._resubscribe(psub)
                continue
            except RETRYABLE as exc:
                log.warning("fetch on %s failed (%s); re-subscribing", self._topic, exc)
                psub, seen_reconnects = await self._resubscribe(psub)
                continue
            for msg in msgs:
                await self._deliver_one(msg)

    async def _resubscribe(
        self, old: JetStreamContext.PullSubscription
    ) -> tuple[JetStreamContext.PullSubscription, int]:
        with contextlib.suppress(*RETRYABLE):
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
        with contextlib.suppress(*RETRYABLE):
            await msg.ack()

    async def _hand_out_unacked(self, seq: int, msg: Any, event: _events.Event) -> None:
        """Manual ack: redeliveries (after a nak, an ack wait, a restart) come in any order,
        so every sequence not being worked on is handed out; the owner acks it."""
        known = seq in self._unacked
        self._unacked[seq] = msg  # the owner acks the latest delivery
        if not known:
            self._last_seq = max(seq, self._last_seq or 0)
            await self._queue.put(event)
