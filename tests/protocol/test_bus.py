"""EventBus against a real nats-server: stream, acked publish, subscriptions, restarts."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import nats as nats_client
import pytest

from k8sclaw_protocol import Backoff, BusError, Event, EventBus, PayloadTooLargeError, events
from k8sclaw_protocol._bus import Subscription
from tests.harness.nats_fixtures import NatsServer, free_port

FAST = Backoff(initial=0.02, maximum=0.2)
SCOPE = ("ns1", "r1")


async def test_stream_is_created_idempotently(nats: NatsServer) -> None:
    first = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    second = await EventBus.connect(
        nats.url, backoff=FAST, credentials=nats.creds_for("controller")
    )  # update path
    try:
        nc = await nats_client.connect(nats.url, user_credentials=str(nats.creds_for("controller")))
        info = await nc.jetstream().stream_info(events.STREAM_NAME)
        assert info.config.subjects == ["k8sclaw.>"]
        await nc.close()
    finally:
        await first.close()
        await second.close()


async def test_publish_is_acked_and_delivered_to_ephemeral_subscriber(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        async with bus.subscribe("agent.>") as sub:
            seq = await bus.publish(
                Event.new(events.AGENT_STREAM_CHUNK, {"i": 1}, {"k": "v"}), scope=SCOPE
            )
            assert seq >= 1
            got = await sub.next(5)
            assert (got.topic, got.data, got.metadata) == (
                "agent.stream.chunk",
                {"i": 1},
                {"k": "v"},
            )
    finally:
        await bus.close()


async def test_deliver_all_replays_earlier_events(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        await bus.publish(Event.new(events.AGENT_FOLLOWUP, {"text": "early"}), scope=SCOPE)
        followups = events.scoped_filter(events.AGENT_FOLLOWUP, *SCOPE)
        async with bus.subscribe(followups, deliver="all") as sub:
            assert (await sub.next(5)).data == {"text": "early"}
    finally:
        await bus.close()


async def test_msg_id_deduplicates_retried_publish(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        ev = Event.new(events.AGENT_RUN_COMPLETED, {"status": "success"})
        first = await bus.publish(ev, scope=SCOPE, msg_id="run-a:result")
        second = await bus.publish(ev, scope=SCOPE, msg_id="run-a:result")
        assert first == second
    finally:
        await bus.close()


async def test_a_signal_is_stored_once_per_msg_id_without_awaiting_an_ack(
    nats: NatsServer,
) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        typing = Event.new(events.CHANNEL_MESSAGE_DELIVER, {"kind": "typing"})
        await bus.signal(typing, scope=SCOPE, msg_id="typing-1")
        await bus.signal(typing, scope=SCOPE, msg_id="typing-1")  # a repeat: dropped
        await bus.signal(typing, scope=SCOPE, msg_id="typing-2")
        end = Event.new(events.CHANNEL_MESSAGE_DELIVER, {"kind": "end"})
        await bus.publish(end, scope=SCOPE)
        topic = events.scoped_filter(events.CHANNEL_MESSAGE_DELIVER, *SCOPE)
        async with bus.subscribe(topic, deliver="all") as sub:
            got = [(await sub.next(5)).data["kind"] for _ in range(3)]
        assert got == ["typing", "typing", "end"]
        with pytest.raises(PayloadTooLargeError):
            huge = Event.new(events.CHANNEL_MESSAGE_DELIVER, "x" * events.MAX_EVENT_BYTES)
            await bus.signal(huge, scope=SCOPE, msg_id="huge")
    finally:
        await bus.close()
    with pytest.raises(BusError, match="not sent"):
        await bus.signal(typing, scope=SCOPE, msg_id="typing-3")  # closed: said at once


async def test_malformed_message_is_skipped(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    nc = await nats_client.connect(nats.url, user_credentials=str(nats.creds_for("controller")))
    try:
        async with bus.subscribe("channel.>") as sub:
            await nc.jetstream().publish("k8sclaw.channel.message.send.ns1.r1", b"not an envelope")
            await bus.publish(Event.new(events.CHANNEL_MESSAGE_SEND, "ok"), scope=SCOPE)
            assert (await sub.next(5)).data == "ok"
    finally:
        await nc.close()
        await bus.close()


async def test_connect_waits_for_a_server_that_starts_later(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = NatsServer(tmp_path / "store", port=free_port())
    connecting = asyncio.create_task(
        EventBus.connect(server.url, backoff=FAST, credentials=server.creds_for("controller"))
    )
    await asyncio.sleep(0.3)  # let a few connection attempts fail first
    assert not connecting.done()
    await asyncio.to_thread(server.start)
    try:
        bus = await asyncio.wait_for(connecting, 20)
        assert await bus.publish(Event.new(events.AGENT_RUN_STARTED), scope=SCOPE) >= 1
        await bus.close()
    finally:
        server.stop()


async def test_durable_and_ephemeral_subscriptions_survive_restart(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        async with (
            bus.subscribe("agent.run.>", durable="ctl") as durable,
            bus.subscribe("agent.run.>") as ephemeral,
        ):
            await bus.publish(Event.new(events.AGENT_RUN_STARTED, 1), scope=SCOPE)
            assert (await durable.next(5)).data == 1
            assert (await ephemeral.next(5)).data == 1
            await asyncio.to_thread(nats.restart)
            await bus.publish(Event.new(events.AGENT_RUN_COMPLETED, 2), scope=SCOPE, retry=True)
            assert (await durable.next(20)).data == 2
            assert (await ephemeral.next(20)).data == 2
    finally:
        await bus.close()


async def test_retrying_publish_waits_out_an_outage(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        await asyncio.to_thread(nats.stop)
        publishing = asyncio.create_task(
            bus.publish(
                Event.new(events.AGENT_RUN_COMPLETED, "kept"), scope=SCOPE, msg_id="m1", retry=True
            )
        )
        await asyncio.sleep(0.3)
        assert not publishing.done()
        await asyncio.to_thread(nats.start)
        assert await asyncio.wait_for(publishing, 30) >= 1
        async with bus.subscribe(
            events.scoped_filter(events.AGENT_RUN_COMPLETED), deliver="all"
        ) as sub:
            assert (await sub.next(5)).data == "kept"
    finally:
        await bus.close()


async def test_publish_many_pipelines_in_order_and_dedupes_by_msg_id(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        topic = events.AGENT_STREAM_CHUNK
        items = [(Event.new(topic, i), f"m{i}") for i in range(50)]
        async with bus.subscribe(events.scoped_filter(topic)) as sub:
            seqs = await bus.publish_many(items, scope=SCOPE)
            assert seqs == sorted(seqs) and len(set(seqs)) == 50
            assert [(await sub.next(5)).data for _ in range(50)] == list(range(50))
            again = await bus.publish_many(
                [*items[:3], (Event.new(topic, "new"), None)], scope=SCOPE
            )
            assert again[:3] == seqs[:3]  # stored once: the server dropped the duplicates
            assert (await sub.next(5)).data == "new"
    finally:
        await bus.close()


async def test_publish_many_with_retry_waits_out_an_outage(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        await asyncio.to_thread(nats.stop)
        items = [(Event.new(events.AGENT_STREAM_CHUNK, i), f"out{i}") for i in range(3)]
        publishing = asyncio.create_task(bus.publish_many(items, scope=SCOPE, retry=True))
        await asyncio.sleep(0.3)
        assert not publishing.done()
        await asyncio.to_thread(nats.start)
        assert len(await asyncio.wait_for(publishing, 30)) == 3
        async with bus.subscribe(
            events.scoped_filter(events.AGENT_STREAM_CHUNK), deliver="all"
        ) as sub:
            assert sorted([(await sub.next(5)).data for _ in range(3)]) == [0, 1, 2]
    finally:
        await bus.close()


class _StubbornPump(Subscription):
    """A pump whose first cancellation is lost, as Python 3.11's `asyncio.wait_for` (inside
    nats' fetch) loses one that races its timeout (gh-86296)."""

    async def _pump(self) -> None:
        self._ready.set()
        swallowed = False
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed = True


async def test_close_ends_a_pump_that_lost_a_cancellation() -> None:
    sub = await _StubbornPump(None, "agent.run.completed", None, "new").start()  # type: ignore[arg-type]
    closing = asyncio.create_task(sub.close())
    done, _ = await asyncio.wait({closing}, timeout=10)  # wait_for would hide a hang here
    assert closing in done, "close() hung on a pump that lost its cancellation"
    closing.result()


async def test_anonymous_clients_are_refused(nats: NatsServer) -> None:
    assert await asyncio.to_thread(nats.anonymous_reply) == "-ERR 'Authorization Violation'"


async def test_oversized_event_is_a_permanent_error_even_with_retry(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        huge = Event.new(events.AGENT_STREAM_CHUNK, "x" * events.MAX_EVENT_BYTES)
        with pytest.raises(PayloadTooLargeError):
            await asyncio.wait_for(bus.publish(huge, scope=SCOPE, retry=True), 20)
        small = Event.new(events.AGENT_STREAM_CHUNK, "fits")
        seqs = await bus.publish_many([(huge, "h"), (small, "s")], scope=SCOPE, retry=True)
        assert seqs[0] is None and seqs[1] is not None
        assert bus.oversized == 2
    finally:
        await bus.close()


async def test_fitted_event_of_emoji_is_published_truncated_with_a_marker(
    nats: NatsServer,
) -> None:
    """Each emoji costs 12 bytes under ensure_ascii and 4 as UTF-8; fit() cuts by bytes."""
    emoji = "\N{GRINNING FACE}" * 400_000  # 1.6 MB as UTF-8
    event = events.fit(Event.new(events.AGENT_RUN_COMPLETED, {"status": "success", "x": emoji}))
    assert len(event.to_bytes()) <= events.MAX_EVENT_BYTES
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        await bus.publish(event, scope=SCOPE)
        sub = bus.subscribe(events.scoped_filter(events.AGENT_RUN_COMPLETED), deliver="all")
        async with sub:
            got = await sub.next(10)
        assert got.data["status"] == "success"
        assert got.data["x"].startswith("\N{GRINNING FACE}" * 1000)
        assert got.data["x"].endswith("bytes]") and "truncated" in got.data["x"]
    finally:
        await bus.close()


async def test_publish_gives_up_after_the_bound_during_an_outage(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        await asyncio.to_thread(nats.stop)
        event = Event.new(events.AGENT_RUN_COMPLETED, "lost?")
        with pytest.raises(BusError):
            await bus.publish(event, scope=SCOPE, retry=True, give_up_after=0.5)
    finally:
        await bus.close()


async def test_since_skips_events_stored_before_it(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        await bus.publish(Event.new(events.AGENT_FOLLOWUP, "old"), scope=SCOPE)
        await asyncio.sleep(0.05)
        since = datetime.now(UTC)
        await asyncio.sleep(0.05)
        await bus.publish(Event.new(events.AGENT_FOLLOWUP, "new"), scope=SCOPE)
        followups = events.scoped_filter(events.AGENT_FOLLOWUP, *SCOPE)
        async with bus.subscribe(followups, durable="fu-since", since=since) as sub:
            got = await sub.next(5)
        assert (got.data, got.subject) == ("new", "k8sclaw.agent.followup.ns1.r1")
    finally:
        await bus.close()


async def test_a_reader_without_stream_rights_connects_once_the_stream_exists(
    nats: NatsServer,
) -> None:
    """The recorder may not create or update the stream; once the controller made it,
    `connect` finds it unchanged and needs no more than stream info."""
    control = await EventBus.connect(
        nats.url, backoff=FAST, credentials=nats.creds_for("controller")
    )
    try:
        reader = await asyncio.wait_for(
            EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("recorder")), 20
        )
        async with reader.subscribe(events.scoped_filter(events.AGENT_RUN_STARTED)) as sub:
            await control.publish(Event.new(events.AGENT_RUN_STARTED, "hi"), scope=SCOPE)
            assert (await sub.next(10)).data == "hi"
        await reader.close()
    finally:
        await control.close()


async def test_a_deliberate_close_is_not_reported_as_a_disconnect(
    nats: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="k8sclaw.bus")
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        await asyncio.to_thread(nats.stop)
        await asyncio.to_thread(nats.start)
        event = Event.new(events.AGENT_STREAM_CHUNK, "after the outage")
        await asyncio.wait_for(bus.publish(event, scope=SCOPE, retry=True), 30)  # reconnected
        outage = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert [r.getMessage() for r in outage] == [f"disconnected from {nats.url}; reconnecting"]
        caplog.clear()
    finally:
        await bus.close()
    await asyncio.sleep(0.1)  # nats-py runs its callbacks as tasks
    assert [r.levelno for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("closed the connection" in r.getMessage() for r in caplog.records)
