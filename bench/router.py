"""The chat router's own overhead with 100 concurrent chats, as a ratio to a bare
publish/subscribe round trip on the same NATS server in the same run.

The router runs alone in this process, as in `k8sclaw-apiserver`; the chat side (the
channel pod publishing messages and reading replies, and the controller finishing runs)
runs in a second process, the kube emulator in a third, so the router's event loop does
only the router's work. Clocks are `time.monotonic` (one clock for all processes).

(a) message → AgentRun created: from the channel's publish of a chat message to the
    router's create of its run returning (bus delivery, instance read, history read from
    the transcript store, the create). Its *own share* leaves out the time the create
    request spent in the API server (timed around each create in the router).
(b) run completed → Delivery: from the status patch that finishes the run to the reply
    arriving at the channel side. Its *own share* starts when the router's watch
    delivers the finished run (before that the time is the API server's).
(a') a second message in each chat once the replies are marked, whose turns come from
    the router's memory (no store read, asserted).
(c) the history read alone, 100 at once on sessions of 10 finished runs with 50 stream
    events each: the turns query (`exchanges`) one session per statement, and batched as
    the router reads (`BatchedReads`), against the full session page it read before.

Real NATS (`nats-server`) with the shipped auth, the emulator, SQLite transcripts. The
targets (≤ 50 ms p50) are for the own shares. A figure, not a test.

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
from k8sclaw_controllers.router._history import BatchedReads  # noqa: E402
from k8sclaw_controllers.router._state import chat_key  # noqa: E402
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


class TimedKube(_kube.Kube):
    """The router's client, timing each create (the API server's share of (a))."""

    created_in: dict[str, float]

    async def create(self, path: str, body: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return await super().create(path, body, **kwargs)
        finally:
            name = (body.get("metadata") or {}).get("name", "")
            self.created_in[name] = time.monotonic() - start


class TimedRouter(Router):
    """The router, noting when its watch first shows each run finished (start of (b)'s
    own share)."""

    seen_finished: dict[str, float]

    def changed(self, kind: str, obj: dict[str, Any]) -> None:
        if (obj.get("status") or {}).get("phase") == "Succeeded":
            self.seen_finished.setdefault(obj["metadata"].get("uid", ""), time.monotonic())
        super().changed(kind, obj)


class ChatSide:
    """The second process: channel pod and controller, driven by one JSON line per step."""

    def __init__(self, argv: list[str]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, "--chat-side", json.dumps(argv)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    async def ask(self, **command: Any) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()
        line = await asyncio.to_thread(self._proc.stdout.readline)
        if not line:
            raise RuntimeError(f"the chat side ended (exit {self._proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(30)


async def measure(nats: NatsServer, kubeconfig: Path, chats: int, data_dir: Path) -> None:
    controller = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"))
    kube = TimedKube.connect(_kube.load_configuration(str(kubeconfig)))
    kube.created_in = {}
    ns = f"bench-{int(time.time())}"
    await kube.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    body = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": INSTANCE},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}},
    }
    await kube.create(_kube.claw(ns, "clawinstances"), body)
    channel_creds = nats.creds(busauth.channel_permissions(ns, INSTANCE), "channel")
    observer_creds = nats.creds_for("controller")  # reads replies without a durable consumer
    side = ChatSide([nats.url, str(channel_creds), str(observer_creds), str(kubeconfig), ns])
    store = await transcripts.open_store(None, data_dir)
    router_bus = await EventBus.connect(
        nats.url, credentials=nats.creds_for("router"), manage_stream=False, backoff=FAST
    )
    router = TimedRouter(router_bus, kube, store, namespace=ns, typing_seconds=3600)
    router.seen_finished = {}
    task = asyncio.create_task(router.run())
    await asyncio.wait_for(router.ready.wait(), 60)
    try:
        await side.ask(ready=True)
        bare = await bare_round_trip(controller, 200)
        rounds = [await _round(router, side, chats, r) for r in range(ROUNDS)]
    finally:
        side.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for bus in (router_bus, controller):
            await bus.close()
        await store.close()
        await kube.close()
    _report(bare, rounds)


ROUNDS = 3
"""Rounds of (a), (b), (a') on new chats each; the median round is reported (a 2-core
machine running four processes is noisy)."""


async def _round(router: TimedRouter, side: ChatSide, chats: int, number: int) -> list[Figures]:
    inbound, runs = await _inbound(router, side, chats, "m-1", number)
    replies = await _replies(router, side, runs)
    await _settled(router, runs)
    reads = router.histories.store_reads
    later, _ = await _inbound(router, side, chats, "m-2", number)
    assert router.histories.store_reads == reads, "a later message read the store"
    return [inbound, replies, later]


Figures = tuple[list[float], list[float]]
"""End to end, and the router's own share, per chat."""


def _report(bare: list[float], rounds: list[list[Figures]]) -> None:
    base = statistics.median(bare) * 1000
    print(
        f"bare NATS publish/subscribe round trip: p50 {base:.2f} ms, p99 {pct(bare, 0.99):.2f} ms"
    )
    labels = (
        "(a) message → AgentRun created",
        "(b) completed → Delivery",
        "(a') second message → AgentRun created (turns from memory)",
    )
    chats = len(rounds[0][0][0])
    for phase, label in enumerate(labels):
        print(f"{label}, {chats} chats at once, median of {len(rounds)} rounds:")
        for part, name in ((0, "end to end"), (1, "router's own share")):
            p50s = [pct(figures[phase][part], 0.5) for figures in rounds]
            p99s = [pct(figures[phase][part], 0.99) for figures in rounds]
            p50, p99 = statistics.median(p50s), statistics.median(p99s)
            each = ", ".join(f"{v:.0f}" for v in p50s)
            print(
                f"    {name}: p50 {p50:.2f} ms ({p50 / base:.1f}x), "
                f"p99 {p99:.2f} ms ({p99 / base:.1f}x)  [round p50s: {each} ms]"
            )


async def _inbound(
    router: TimedRouter, side: ChatSide, chats: int, message: str, number: int
) -> tuple[Figures, list[AgentRun]]:
    before = set(router.created_at)
    sent: dict[str, float] = (await side.ask(say=message, chats=chats, round=number))["sent"]
    deadline = time.monotonic() + 120
    while len(router.created_at) - len(before) < chats:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(router.created_at) - len(before)} of {chats} created")
        await asyncio.sleep(0.01)
    new = [r for r in router.runs.values() if (r.namespace, r.name) not in before]
    total = [router.created_at[(r.namespace, r.name)] - sent[r.spec.task] for r in new]
    created_in = router._kube.created_in  # type: ignore[attr-defined]
    own = [took - created_in[r.name] for took, r in zip(total, new, strict=True)]
    return (total, own), new


async def _settled(router: Router, runs: list[AgentRun]) -> None:
    """The replies of `runs` are marked sent, so their chats' next messages start at once."""
    deadline = time.monotonic() + 120
    while any(router.chats[chat_key(run)].active for run in runs):
        if time.monotonic() > deadline:
            raise RuntimeError("replies were not marked sent")
        await asyncio.sleep(0.01)


async def _replies(router: TimedRouter, side: ChatSide, runs: list[AgentRun]) -> Figures:
    uids = {r.metadata.uid or "": r.name for r in runs}
    answer = await side.ask(finish=uids)
    finished, arrived = answer["finished"], answer["arrived"]
    total = [arrived[uid] - finished[uid] for uid in uids]
    own = [arrived[uid] - router.seen_finished[uid] for uid in uids]
    return total, own


# --- the chat side (second process)


async def chat_side(nats_url: str, creds: str, observer: str, kubeconfig: str, ns: str) -> None:
    """Answer the router process's steps: publish messages, finish runs, read replies."""
    permissions = busauth.channel_permissions(ns, INSTANCE)
    channel = await EventBus.connect(
        nats_url,
        credentials=Path(creds),
        inbox_prefix=permissions.inbox_prefix,
        manage_stream=False,
    )
    reader = await EventBus.connect(nats_url, credentials=Path(observer), manage_stream=False)
    kube = _kube.Kube.connect(_kube.load_configuration(kubeconfig))
    topic = events.scoped_filter(events.CHANNEL_MESSAGE_DELIVER, ns, INSTANCE)
    arrived: dict[str, float] = {}
    try:
        async with reader.subscribe(topic) as replies:
            collector = asyncio.create_task(_collect(replies, arrived))
            while line := await asyncio.to_thread(sys.stdin.readline):
                step = json.loads(line)
                if "say" in step:
                    answer: dict[str, Any] = {"sent": await _say(channel, ns, **step)}
                elif "finish" in step:
                    answer = await _finish(kube, ns, step["finish"], arrived)
                else:
                    answer = {"ready": True}
                print(json.dumps(answer), flush=True)
            collector.cancel()
    finally:
        await channel.close()
        await reader.close()
        await kube.close()


async def _collect(sub: Any, arrived: dict[str, float]) -> None:
    async for event in sub:
        data: dict[str, Any] = event.data
        if data.get("kind") == "text":
            arrived.setdefault(data["id"], time.monotonic())


async def _say(channel: EventBus, ns: str, say: str, chats: int, round: int) -> dict[str, float]:
    """One message in each chat, back to back, each clocked as its publish starts.

    Each publish is let go (a loop turn) before the next is stamped: stamped all at once,
    the early ones would wait in this process's send buffer behind the encoding of the
    rest (~15 ms for 100), which is not the router's time.
    """
    sent: dict[str, float] = {}
    publishes = []
    for i in range(chats):
        data = {
            "channel": "telegram",
            "messageId": say,
            "chatId": f"chat-{round}-{i}",
            "senderId": "u",
            "text": f"{say} {round} {i}",
        }
        event = events.Event.new(events.CHANNEL_MESSAGE_RECEIVED, data)
        sent[data["text"]] = time.monotonic()
        publishes.append(asyncio.create_task(channel.publish(event, scope=(ns, INSTANCE))))
        await asyncio.sleep(0)
    await asyncio.gather(*publishes)
    return sent


async def _finish(
    kube: _kube.Kube, ns: str, runs: dict[str, str], arrived: dict[str, float]
) -> dict[str, Any]:
    """Mark every run Succeeded at once (as the controller would); wait for the replies."""
    finished: dict[str, float] = {}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def one(uid: str, name: str) -> None:
        finished[uid] = time.monotonic()
        status = {"phase": "Succeeded", "result": "ok", "completedAt": now}
        path = _kube.claw(ns, "agentruns", name, "status")
        await kube.patch(path, {"status": status}, read=False)

    await asyncio.gather(*(one(uid, name) for uid, name in runs.items()))
    deadline = time.monotonic() + 120
    while not all(uid in arrived for uid in runs):
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {sum(u in arrived for u in runs)} of {len(runs)} replies")
        await asyncio.sleep(0.01)
    return {"finished": finished, "arrived": {uid: arrived[uid] for uid in runs}}


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
        turns = await timed(lambda key: store.exchanges("h", [key]))
        reads = BatchedReads(store)
        batched = await timed(lambda key: reads.exchanges("h", [key]))
    finally:
        await store.close()
    f50, t50, b50 = pct(full, 0.5), pct(turns, 0.5), pct(batched, 0.5)
    print(
        f"history read ({chats} at once): full session page p50 {f50:.2f} ms, "
        f"turns query p50 {t50:.2f} ms ({f50 / t50:.1f}x less), p99 {pct(turns, 0.99):.2f} ms; "
        f"batched (what the router does) p50 {b50:.2f} ms, p99 {pct(batched, 0.99):.2f} ms"
    )


def _new(seq: int, run: str, kind: Any, topic: str, data: Any) -> transcripts.NewEvent:
    return transcripts.NewEvent(seq, "h", run, topic, kind, seq, json.dumps(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--chat-side", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.chat_side:
        asyncio.run(chat_side(*json.loads(args.chat_side)))
        return
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
