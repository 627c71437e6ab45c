"""The chat router's own overhead with 100 concurrent chats, as a ratio to a bare
publish/subscribe round trip on the same NATS server in the same run.

(a) message received → AgentRun created: from a channel pod's publish of a chat message to
    the router's create of its run returning (bus delivery, instance read, history read
    from the transcript store, the create); (b) run completed → Delivery published: from
    the run's status turning Succeeded to the reply arriving at a channel-side subscriber
    (the watch event, the publish, the delivery); (a') a second message in each chat once
    the replies are marked, whose turns come from the router's memory (no store read,
    asserted); (c) the history read alone, 100 at once
    on sessions of 10 finished runs with 50 stream events each: the turns query
    (`exchanges`, what the router reads now) against the full session page it read before.
    A conversation's later messages read nothing (the router keeps its turns). Real NATS
    (`nats-server`), the kube emulator in its own process, SQLite transcripts. A figure,
    not a test.

    uv run python bench/router.py [--chats 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from k8sclaw_controllers import transcripts  # noqa: E402
from k8sclaw_controllers.manager import _kube  # noqa: E402
from k8sclaw_controllers.router import Router  # noqa: E402
from k8sclaw_protocol import AgentRun, Backoff, EventBus, busauth, events, names  # noqa: E402
from tests.harness.kube import api_client  # noqa: E402
from tests.harness.kube_fixtures import install_crds  # noqa: E402
from tests.harness.nats_fixtures import NatsServer  # noqa: E402

INSTANCE = "bench"
FAST = Backoff(initial=0.02, maximum=0.2)


@contextlib.contextmanager
def emulator_process() -> Iterator[Path]:
    """The kube emulator in its own process (it must not share the router's GIL)."""
    kubeconfig = Path(tempfile.mkdtemp()) / "kubeconfig"
    argv = [sys.executable, "-m", "tests.harness.kube", str(kubeconfig)]
    with subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        try:
            assert proc.stdout is not None
            if not proc.stdout.readline().decode().startswith("ready "):
                raise RuntimeError(f"the kube emulator did not start (exit {proc.poll()})")
            yield kubeconfig
        finally:
            proc.terminate()
            proc.wait(30)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def bare_round_trip(bus: EventBus, count: int) -> list[float]:
    """Publish (acknowledged) and receive on a pull subscription, one at a time."""
    topic = events.scoped_filter(events.CHANNEL_MESSAGE_DELIVER, "bare", "rt")
    took = []
    async with bus.subscribe(topic) as sub:
        for i in range(count):
            start = time.monotonic()
            event = events.Event.new(events.CHANNEL_MESSAGE_DELIVER, {"i": i})
            await bus.publish(event, scope=("bare", "rt"))
            await sub.next(10)
            took.append(time.monotonic() - start)
    return took


async def measure(nats: NatsServer, kubeconfig: Path, chats: int, data_dir: Path) -> None:
    controller = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"))
    kube = _kube.Kube.connect(_kube.load_configuration(str(kubeconfig)))
    ns = f"bench-{int(time.time())}"
    await kube.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    body = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": INSTANCE},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}},
    }
    await kube.create(_kube.claw(ns, "clawinstances"), body)
    permissions = busauth.channel_permissions(ns, INSTANCE)
    channel = await EventBus.connect(
        nats.url,
        credentials=nats.creds(permissions, "channel"),
        inbox_prefix=permissions.inbox_prefix,
        manage_stream=False,
    )
    store = await transcripts.open_store(None, data_dir)
    router_bus = await EventBus.connect(
        nats.url, credentials=nats.creds_for("router"), manage_stream=False, backoff=FAST
    )
    router = Router(router_bus, kube, store, namespace=ns, typing_seconds=3600)
    task = asyncio.create_task(router.run())
    await asyncio.wait_for(router.ready.wait(), 60)
    try:
        bare = await bare_round_trip(controller, 200)
        inbound = await _inbound(router, channel, ns, chats)
        replies = await _replies(router, controller, kube, ns)
        await _settled(router)
        reads = router.histories.store_reads
        later = await _inbound(router, channel, ns, chats, message="m-2")
        assert router.histories.store_reads == reads, "a later message read the store"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for bus in (router_bus, channel, controller):
            await bus.close()
        await store.close()
        await kube.close()
    base = statistics.median(bare) * 1000
    print(
        f"bare NATS publish/subscribe round trip: p50 {base:.2f} ms, p99 {pct(bare, 0.99):.2f} ms"
    )
    for label, took in (
        ("message → AgentRun created", inbound),
        ("completed → Delivery", replies),
        ("second message → AgentRun created (turns from memory)", later),
    ):
        p50, p99 = pct(took, 0.5), pct(took, 0.99)
        print(
            f"{label} ({len(took)} chats at once): p50 {p50:.2f} ms ({p50 / base:.1f}x), "
            f"p99 {p99:.2f} ms ({p99 / base:.1f}x)"
        )


async def _inbound(
    router: Router, channel: EventBus, ns: str, chats: int, message: str = "m-1"
) -> list[float]:
    sent: dict[str, float] = {}
    before = set(router.created_at)

    async def say(i: int) -> None:
        data = {
            "channel": "telegram",
            "messageId": message,
            "chatId": f"chat-{i}",
            "senderId": "u",
            "text": f"{message} {i}",
        }
        sent[f"{message} {i}"] = time.monotonic()
        await channel.publish(
            events.Event.new(events.CHANNEL_MESSAGE_RECEIVED, data), scope=(ns, INSTANCE)
        )

    await asyncio.gather(*(say(i) for i in range(chats)))
    deadline = time.monotonic() + 120
    while len(router.created_at) - len(before) < chats:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(router.created_at) - len(before)} of {chats} created")
        await asyncio.sleep(0.01)
    new = [r for r in router.runs.values() if (ns, r.name) not in before]
    return [router.created_at[(ns, r.name)] - sent[r.spec.task] for r in new]


async def _settled(router: Router) -> None:
    """Every chat's reply is marked sent, so the next message starts at once."""
    deadline = time.monotonic() + 120
    while any(chat.active for chat in router.chats.values()):
        if time.monotonic() > deadline:
            raise RuntimeError("replies were not marked sent")
        await asyncio.sleep(0.01)


async def _replies(router: Router, observer: EventBus, kube: _kube.Kube, ns: str) -> list[float]:
    runs: list[AgentRun] = list(router.runs.values())
    finished: dict[str, float] = {}
    arrived: dict[str, float] = {}
    topic = events.scoped_filter(events.CHANNEL_MESSAGE_DELIVER, ns, INSTANCE)
    async with observer.subscribe(topic) as sub:

        async def collect() -> None:
            async for event in sub:
                data: dict[str, Any] = event.data
                if data.get("kind") == "text":
                    arrived.setdefault(data["id"], time.monotonic())

        collector = asyncio.create_task(collect())
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        async def finish(run: AgentRun) -> None:
            path = _kube.claw(ns, "agentruns", run.name, "status")
            finished[run.metadata.uid or ""] = time.monotonic()
            status = {"phase": "Succeeded", "result": "ok", "completedAt": now}
            await kube.patch(path, {"status": status}, read=False)

        await asyncio.gather(*(finish(r) for r in runs))
        deadline = time.monotonic() + 120
        while len(arrived) < len(runs):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(arrived)} of {len(runs)} replies arrived")
            await asyncio.sleep(0.01)
        collector.cancel()
    return [arrived[uid] - finished[uid] for uid in finished]


async def history_reads(data_dir: Path, chats: int) -> None:
    """(c): the store's share of (a), on sessions with real transcripts."""
    store = await transcripts.open_store(None, data_dir / "history")
    try:
        seq = 0
        for chat in range(chats):
            runs = {}
            batch = []
            for turn in range(10):
                run = f"c{chat}-r{turn}"
                runs[("h", run)] = transcripts.RunInfo("bench", f"s-{chat}", f"task {turn}")
                for _ in range(50):
                    seq += 1
                    chunk = {"type": "text", "content": "x" * 200}
                    batch.append(_new(seq, run, "text", events.AGENT_STREAM_CHUNK, chunk))
                seq += 1
                done = {"status": "success", "response": f"answer {turn}"}
                batch.append(_new(seq, run, "result", events.AGENT_RUN_COMPLETED, done))
            await store.record(batch, runs)

        async def timed(read: Any) -> list[float]:
            async def one(chat: int) -> float:
                start = time.monotonic()
                await read(f"s-{chat}")
                return time.monotonic() - start

            return list(await asyncio.gather(*(one(c) for c in range(chats))))

        full = await timed(lambda key: store.session("h", key, limit=transcripts.MAX_PAGE))
        turns = await timed(lambda key: store.exchanges("h", key))
    finally:
        await store.close()
    f50, t50 = pct(full, 0.5), pct(turns, 0.5)
    print(
        f"history read ({chats} at once): full session page p50 {f50:.2f} ms, "
        f"turns query p50 {t50:.2f} ms ({f50 / t50:.1f}x less), p99 {pct(turns, 0.99):.2f} ms"
    )


def _new(seq: int, run: str, kind: Any, topic: str, data: Any) -> transcripts.NewEvent:
    return transcripts.NewEvent(seq, "h", run, topic, kind, seq, json.dumps(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, emulator_process() as kubeconfig:
        client = api_client(kubeconfig)
        install_crds(client)
        client.close()
        nats = NatsServer(Path(tmp) / "nats")
        nats.start()
        try:
            asyncio.run(measure(nats, kubeconfig, args.chats, Path(tmp)))
            asyncio.run(history_reads(Path(tmp), args.chats))
        finally:
            nats.stop()


if __name__ == "__main__":
    main()
