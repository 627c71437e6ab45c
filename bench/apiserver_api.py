"""API server figures (printed, never asserted), each against a baseline in the same run.

  (a) `/ws/stream` fan-out: S subscribers (default 1,000) on one run, E events published at
      a steady rate; latency from publish to each subscriber's receipt, p50/p99 over every
      (event, subscriber) pair (target p99 <= 100 ms). Baseline: one subscriber alone.
  (b) `GET /api/v1/namespaces/NS/runs` with R runs (default 1,000) vs the list a
      `kubectl get agentruns -o json` makes, through the official Kubernetes client on the
      same cluster (target <= 1.5x), p50 of N reads each, interleaved; once with the static
      admin token and once as a ServiceAccount (TokenReview and SubjectAccessReview, cached).

Every server is its own process, as in a cluster: the kube emulator (`python -m
tests.harness.kube`), nats-server and `k8sclaw-apiserver`; the clients run here.

    uv run python bench/apiserver_api.py [--subscribers 1000] [--events 100] [--runs 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import kubernetes
import orjson

from k8sclaw_protocol import ClawInstance, Event, EventBus, build_run, events
from tests.harness.kube import api_client
from tests.harness.kube_fixtures import install_crds
from tests.harness.nats_fixtures import NatsServer, free_port
from tests.harness.rbac_users import claw_rules, grant, make_user

NS, RUN, TOKEN = "bench", "fanout-run", "bench-admin-token-0123456789"
WARM = 10  # events before measuring: every connection set up, caches warm
SERVER_PID: list[int] = []


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to report server cost per frame."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def emulator(workdir: Path) -> Iterator[Path]:
    kubeconfig = workdir / "kubeconfig"
    cmd = [sys.executable, "-m", "tests.harness.kube", str(kubeconfig)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ready "), line
        yield kubeconfig
    finally:
        proc.terminate()
        proc.wait(timeout=30)


CREDS: dict[str, Path] = {}
"""Bus identities' creds files, written once the bench's NATS server is up."""


async def _make_stream(url: str) -> None:
    """The controller owns the stream; the API server only reads it."""
    await (await EventBus.connect(url, credentials=CREDS["controller"])).close()


@contextmanager
def apiserver(kubeconfig: Path, bus_url: str, workdir: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "K8SCLAW_API_TOKEN": TOKEN}
    env["EVENT_BUS_URL"] = bus_url
    env["K8SCLAW_BUS_CREDS_DIR"] = str(CREDS["apiserver"].parent)
    cmd = ["k8sclaw-apiserver", "--addr", f"127.0.0.1:{port}", "--data-dir", str(workdir)]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    SERVER_PID.append(proc.pid)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def seed(kubeconfig: Path, runs: int) -> str:
    """Namespace, an instance, `runs` runs; returns a ServiceAccount token allowed to list."""
    with api_client(kubeconfig) as client:
        install_crds(client)
        kubernetes.client.CoreV1Api(client).create_namespace({"metadata": {"name": NS}})
        custom = kubernetes.client.CustomObjectsApi(client)
        body = {
            "apiVersion": "k8sclaw.io/v1alpha1",
            "kind": "ClawInstance",
            "metadata": {"name": "bot", "namespace": NS},
            "spec": {
                "agents": {"default": {"model": "gpt-4o", "provider": "openai"}},
                "authRefs": [{"provider": "openai", "secret": "k"}],
            },
        }
        made = custom.create_namespaced_custom_object(
            "k8sclaw.io", "v1alpha1", NS, "clawinstances", body
        )
        inst = ClawInstance.from_wire(made)
        for i in range(runs):
            run = build_run(inst, f"task {i}", source="api", name=f"bot-{i:05d}").to_wire()
            custom.create_namespaced_custom_object("k8sclaw.io", "v1alpha1", NS, "agentruns", run)
        user = make_user(client, NS, "reader")
        grant(client, NS, user, claw_rules("get", "list", "watch"))
        return user.token


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def list_figures(kubeconfig: Path, base: str, user_token: str, reads: int) -> None:
    with api_client(kubeconfig) as client:
        custom = kubernetes.client.CustomObjectsApi(client)

        def kubectl_like() -> int:
            listing = custom.list_namespaced_custom_object(
                "k8sclaw.io", "v1alpha1", NS, "agentruns"
            )
            return len(listing["items"])

        rows = {"kubernetes client list (kubectl get agentruns -o json)": kubectl_like}
        for label, token in (("admin token", TOKEN), ("ServiceAccount", user_token)):
            http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
            path = f"/api/v1/namespaces/{NS}/runs"
            rows[f"GET …/runs via the API server ({label})"] = lambda http=http, path=path: len(
                http.get(path).json()["items"]
            )
        counts = {label: fn() for label, fn in rows.items()}  # warm caches and connections
        # Interleaved (one read of each in turn, in a shuffled order), so a load change on a
        # shared machine hits every row alike and no row mostly follows the same one; the
        # garbage of the previous read (the Kubernetes client's objects) is collected
        # before each, untimed, so no row pays for another's.
        times: dict[str, list[float]] = {label: [] for label in rows}
        labels, shuffle = list(rows), random.Random(0).shuffle
        for _ in range(reads):
            shuffle(labels)
            for label in labels:
                gc.collect()
                start = time.perf_counter()
                rows[label]()
                times[label].append(time.perf_counter() - start)
        results = {}
        for label in rows:
            results[label] = statistics.median(times[label])
            print(f"  {label}: {counts[label]} runs, p50 {results[label] * 1000:.1f} ms")
        base_time = next(iter(results.values()))
        for label, value in list(results.items())[1:]:
            print(f"  ratio {label} / kubernetes client: {value / base_time:.2f}x (target <= 1.5x)")


def _handshake(base: str, path: str) -> socket.socket:
    """A WebSocket upgrade on a plain socket (the client side is kept lean so the figure is
    the server's: the websockets library costs ~10x more per frame than parsing below)."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {TOKEN}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    sock.setblocking(False)
    return sock


class _Frames(asyncio.Protocol):
    """Unmasked server text frames; records publish-to-receipt latency of each."""

    def __init__(self, latencies: list[float], want: int, done: asyncio.Future[None]) -> None:
        self.buffer, self.latencies, self.left, self.done = b"", latencies, want, done

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        while len(self.buffer) >= 2:
            opcode, size, start = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
            if size == 126:
                if len(self.buffer) < 4:
                    return
                size, start = int.from_bytes(self.buffer[2:4], "big"), 4
            elif size == 127:
                size, start = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < start + size:
                return
            payload, self.buffer = self.buffer[start : start + size], self.buffer[start + size :]
            if opcode == 1:
                data = orjson.loads(payload)["event"]["data"]
                if not data.get("warm"):
                    self.latencies.append(now - data["sent"])
                self.left -= 1
                if self.left == 0 and not self.done.done():
                    self.done.set_result(None)


async def fanout(base: str, bus_url: str, subscribers: int, count: int, rate: float) -> list[float]:
    loop = asyncio.get_running_loop()
    path = f"/ws/stream?namespace={NS}&run={RUN}"
    latencies: list[float] = []
    waits = []
    for _ in range(subscribers):
        done: asyncio.Future[None] = loop.create_future()
        waits.append(done)
        sock = _handshake(base, path)
        await loop.connect_accepted_socket(lambda d=done: _Frames(latencies, count + WARM, d), sock)
    bus = await EventBus.connect(bus_url, credentials=CREDS["controller"])
    for i in range(count + WARM):  # the first WARM events are not measured
        data = {"type": "text", "content": f"t{i}", "sent": time.time(), "warm": i < WARM}
        await bus.publish(Event.new(events.AGENT_STREAM_CHUNK, data), scope=(NS, RUN))
        await asyncio.sleep(1 / rate)
    await asyncio.wait_for(asyncio.gather(*waits), timeout=300)
    await bus.close()
    return latencies


def fanout_figures(base: str, bus_url: str, subscribers: int, count: int, rate: float) -> None:
    for n in (1, subscribers):
        cpu = cpu_seconds(SERVER_PID[-1])
        lat = asyncio.run(fanout(base, bus_url, n, count, rate))
        cpu = cpu_seconds(SERVER_PID[-1]) - cpu
        print(
            f"  server CPU: {cpu:.2f} s, {cpu / max(1, len(lat)) * 1e6:.0f} µs per delivered frame"
        )
        print(
            f"  {n} subscriber(s), {count} events at {rate:.0f}/s: {len(lat)} deliveries, "
            f"p50 {p(lat, 0.5) * 1000:.1f} ms, p99 {p(lat, 0.99) * 1000:.1f} ms"
            + (" (target p99 <= 100 ms)" if n > 1 else " (baseline)")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="k8sclaw-bench-") as tmp:
        workdir = Path(tmp)
        nats = NatsServer(workdir / "nats")
        nats.start()
        # Each identity's creds in its own directory, as each is mounted in its own pod.
        for who in ("controller", "apiserver"):
            folder = workdir / f"bus-{who}"
            folder.mkdir()
            CREDS[who] = folder / "user.creds"
            CREDS[who].write_bytes(nats.creds_for(who).read_bytes())
        asyncio.run(_make_stream(nats.url))
        try:
            with emulator(workdir) as kubeconfig:
                user_token = seed(kubeconfig, args.runs)
                with apiserver(kubeconfig, nats.url, workdir) as base:
                    print(f"(b) list of {args.runs} runs, p50 of {args.reads} reads")
                    list_figures(kubeconfig, base, user_token, args.reads)
                    print("(a) /ws/stream fan-out on one run")
                    fanout_figures(base, nats.url, args.subscribers, args.events, args.rate)
        finally:
            nats.stop()


if __name__ == "__main__":
    main()
