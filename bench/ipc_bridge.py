"""IPC bridge latency and throughput against a bare watcher+publisher loop, same run.

Writes `/ipc/output/stream-<n>.json` files (atomically) and measures file-written →
event-received latency (p50/p99, one file at a time) and sustained events/s (a burst
of files), for the real bridge and for a bare loop (the same watcher as the bridge,
`k8sclaw_sidecar._watch`, + JetStream publish of the raw bytes, no validation or
dedupe). Prints figures and ratios; never fails on time.
Targets: p50 ≤ 2 ms, p99 ≤ 10 ms, throughput ratio ≥ 0.7.

Both run against the authenticated server of the tests (operator mode, the shipped
permissions): the bridge as its run's scoped user, exactly as in a pod.

The `/ipc` stand-in lives on tmpfs (`/dev/shm`) when there is one, as in the pod (an
emptyDir with `medium: Memory`); on a disk the writer's own file creation (~1 ms per
file on a busy ext4) would be measured instead of the bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats

from k8sclaw_protocol import EventBus, IpcLayout, StreamChunk, busauth, events, ipc
from k8sclaw_sidecar import _watch
from k8sclaw_sidecar.bridge import Bridge, BridgeSettings
from tests.harness.nats_fixtures import NatsServer

NS, RUN = "bench", "bench"
LATENCY_SAMPLES = 200
BURST = 2000
SHM = Path("/dev/shm")
IPC_PARENT = str(SHM) if SHM.is_dir() and os.access(SHM, os.W_OK) else None


def _read(path: Path) -> bytes:
    return path.read_bytes()


async def _bare_loop(server: NatsServer, root: Path, stop: asyncio.Event) -> None:
    nc = await nats.connect(server.url, user_credentials=str(server.creds_for("controller")))
    js = nc.jetstream()
    subject = events.scoped_subject(events.AGENT_STREAM_CHUNK, NS, RUN)
    async for batch in _watch.watch_files(root, stop):
        for path in batch:
            if path.suffix == ".json":
                with contextlib.suppress(FileNotFoundError):
                    await js.publish(subject, _read(path))
    await nc.close()


async def _bridge_loop(server: NatsServer, root: Path, stop: asyncio.Event) -> None:
    creds = server.run_creds(NS, RUN, "bench-uid")
    settings = BridgeSettings(root, RUN, "bench", server.url, NS, creds, "bench-uid")
    bus = await EventBus.connect(
        server.url,
        credentials=settings.creds,
        inbox_prefix=busauth.scoped_inbox("run", NS, RUN),
        manage_stream=False,
    )
    bridge = Bridge(settings, bus)
    bridge.stop = stop
    await bridge.run()
    await bus.close()


async def _measure(
    name: str,
    server: NatsServer,
    loop: Callable[[NatsServer, Path, asyncio.Event], Awaitable[None]],
) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory(dir=IPC_PARENT) as tmp:
        layout = IpcLayout(Path(tmp))
        layout.ensure()
        # A core subscriber, as a bench-only user (no component may subscribe to k8sclaw.>).
        reader = server.creds(busauth.Permissions(publish=(), subscribe=("k8sclaw.>",)), "bench")
        nc = await nats.connect(server.url, user_credentials=str(reader))
        received: asyncio.Queue[float] = asyncio.Queue()

        async def on_message(_msg: object) -> None:
            received.put_nowait(time.perf_counter())

        subject = events.scoped_subject(events.AGENT_STREAM_CHUNK, NS, RUN)
        await nc.subscribe(subject, cb=on_message)
        stop = asyncio.Event()
        task = asyncio.create_task(loop(server, layout.root, stop))
        await asyncio.sleep(0.5)  # watcher start-up; not part of any figure
        latencies = []
        for i in range(LATENCY_SAMPLES):
            start = time.perf_counter()
            ipc.write_atomic(layout.stream_chunk(i), StreamChunk(type="text", content="x", index=i))
            latencies.append(await asyncio.wait_for(received.get(), 10) - start)
        start = time.perf_counter()
        await asyncio.to_thread(_burst, layout, LATENCY_SAMPLES)
        for _ in range(BURST):
            await asyncio.wait_for(received.get(), 30)
        rate = BURST / (time.perf_counter() - start)
        stop.set()
        await task
        await nc.close()
    lat = sorted(latencies)
    p50, p99 = statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000
    print(f"{name:>6}: p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  {rate:8.0f} events/s")
    return p50, p99, rate


def _burst(layout: IpcLayout, offset: int) -> None:
    for i in range(offset, offset + BURST):
        chunk = json.dumps({"type": "text", "content": "x", "index": i}).encode()
        ipc.write_atomic(layout.stream_chunk(i), chunk)


async def _main() -> None:
    with tempfile.TemporaryDirectory() as store:
        server = NatsServer(Path(store))
        server.start()
        try:
            creds = server.creds_for("controller")
            bus = await EventBus.connect(server.url, credentials=creds)  # creates the stream
            await bus.close()
            print(f"/ipc stand-in on {IPC_PARENT or tempfile.gettempdir()}")
            bare = await _measure("bare", server, _bare_loop)
            real = await _measure("bridge", server, _bridge_loop)
        finally:
            server.stop()
    print(
        f"ratios bridge/bare: p50 {real[0] / bare[0]:.2f}x  p99 {real[1] / bare[1]:.2f}x  "
        f"throughput {real[2] / bare[2]:.2f} (targets: p50 <= 2 ms, p99 <= 10 ms, ratio >= 0.7)"
    )


if __name__ == "__main__":
    asyncio.run(_main())
