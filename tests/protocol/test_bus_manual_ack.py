"""Subscriptions with `manual_ack`: nothing is acknowledged until the caller says so, so a
consumer that stops before finishing its work gets the same events again (at once, since
close nak's them), and acknowledged events never come back."""

from __future__ import annotations

import asyncio

from k8sclaw_protocol import Backoff, Event, EventBus, events
from tests.harness.nats_fixtures import NatsServer

FAST = Backoff(initial=0.02, maximum=0.2)
TOPIC = events.AGENT_STREAM_CHUNK


async def _take(bus: EventBus, n: int, ack: int) -> list[int]:
    """Read `n` events on the durable "worker", ack the first `ack`, then stop."""
    async with bus.subscribe(TOPIC, durable="worker", deliver="all", manual_ack=True) as sub:
        got = [await sub.next(20) for _ in range(n)]
        await sub.ack(*got[:ack])
    return [e.data["i"] for e in got]


async def test_unacknowledged_events_come_back_to_the_next_consumer(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST)
    try:
        for i in range(5):
            await bus.publish(Event.new(TOPIC, {"i": i}))
        assert await _take(bus, 5, ack=2) == [0, 1, 2, 3, 4]
        # Only the three unacknowledged events are delivered again, in order.
        assert await _take(bus, 3, ack=3) == [2, 3, 4]
        async with bus.subscribe(TOPIC, durable="worker", manual_ack=True) as sub:
            await bus.publish(Event.new(TOPIC, {"i": 5}))
            assert (await sub.next(20)).data == {"i": 5}
    finally:
        await bus.close()


async def test_without_manual_ack_events_are_acknowledged_on_hand_out(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST)
    try:
        for i in range(3):
            await bus.publish(Event.new(TOPIC, {"i": i}))
        async with bus.subscribe(TOPIC, durable="auto", deliver="all") as sub:
            assert [(await sub.next(20)).data["i"] for _ in range(3)] == [0, 1, 2]
        async with bus.subscribe(TOPIC, durable="auto", deliver="all") as sub:
            await bus.publish(Event.new(TOPIC, {"i": 3}))
            assert (await sub.next(20)).data == {"i": 3}
            try:
                extra = await sub.next(0.5)
            except TimeoutError:
                extra = None
            assert extra is None
    finally:
        await bus.close()


async def test_ack_ignores_events_of_other_subscriptions(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST)
    try:
        async with bus.subscribe(TOPIC, manual_ack=True) as sub:
            await sub.ack(Event.new(TOPIC, {}))  # never delivered: nothing to do
            await bus.publish(Event.new(TOPIC, {"i": 1}))
            got = await sub.next(20)
            await sub.ack(got, got)  # twice is harmless
            await asyncio.sleep(0)
    finally:
        await bus.close()
