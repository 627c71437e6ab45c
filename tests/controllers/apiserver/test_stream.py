"""`/ws/stream` delivers only what RBAC lets the caller watch, and never waits for a slow
reader. Real NATS; the cluster is the emulator or a real one."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import socket
import threading
import time
from typing import Any

import kubernetes
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from k8sclaw_protocol import EventBus, events
from k8sclaw_protocol._events import Event
from tests.controllers.apiserver._objects import instance
from tests.controllers.apiserver._server import ADMIN_TOKEN, client
from tests.controllers.apiserver.conftest import Tenants
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer


def _ws(base: str, token: str | None, **query: str) -> ClientConnection:
    url = base.replace("http://", "ws://") + "/ws/stream"
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return connect(url, additional_headers=headers, open_timeout=60, max_queue=1)


def _stalled_reader(base: str, token: str, namespace: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then reads nothing (a tiny
    receive buffer, so it falls behind at once): the slowest possible subscriber."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(60)
    sock.connect((host, int(port)))
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    request = (
        f"GET /ws/stream?namespace={namespace} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _read_until_close_code(sock: socket.socket) -> int:
    """Drain what the server queued until its close frame; return the close code."""
    data = b""
    while True:
        chunk = sock.recv(1 << 20)
        assert chunk, "the server hung up without a close frame"
        data += chunk
        found = re.search(rb"\x88([\x02-\x7d])(..)", data[-(1 << 21) :], re.DOTALL)
        if found:
            return int.from_bytes(found.group(2), "big")


def _publish(nats: NatsServer, items: list[tuple[str, str, Any]]) -> None:
    """Publish `(namespace, run, data)` stream chunks on their scoped subjects."""

    async def go() -> None:
        bus = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"))
        try:
            for ns, run, data in items:
                await bus.publish(Event.new(events.AGENT_STREAM_CHUNK, data), scope=(ns, run))
        finally:
            await bus.close()

    asyncio.run(go())


def _next(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=60))
    return frame


def _refused(base: str, token: str | None, **query: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        _ws(base, token, **query).close()
    return info.value.response.status_code


def test_subscriptions_are_refused_without_rights(
    streaming: tuple[str, NatsServer], tenants: Tenants
) -> None:
    base, _ = streaming
    assert _refused(base, None, namespace=tenants.ns_a) == 401
    assert _refused(base, tenants.mallory.token, namespace=tenants.ns_a) == 403
    assert _refused(base, tenants.mallory.token) == 403  # watches nothing anywhere
    assert _refused(base, tenants.bob.token, namespace=tenants.ns_a) == 403
    assert _refused(base, tenants.bob.token, namespace="Bad_NS") == 400


def test_each_user_receives_only_events_of_namespaces_it_may_watch(
    streaming: tuple[str, NatsServer], tenants: Tenants
) -> None:
    base, nats = streaming
    a, b = tenants.ns_a, tenants.ns_b
    with (
        _ws(base, tenants.alice.token, namespace=a) as alice,
        _ws(base, tenants.bob.token) as bob_everywhere,
        _ws(base, ADMIN_TOKEN) as admin,
    ):
        _publish(nats, [(a, "run-1", "secret of a"), (b, "run-2", "for b")])
        got = _next(alice)
        assert (got["namespace"], got["name"], got["event"]["data"]) == (a, "run-1", "secret of a")
        assert got["subject"] == f"k8sclaw.agent.stream.chunk.{a}.run-1"
        got = _next(bob_everywhere)  # a's event was published first and never reaches bob
        assert (got["namespace"], got["event"]["data"]) == (b, "for b")
        assert [_next(admin)["namespace"], _next(admin)["namespace"]] == [a, b]
        _publish(nats, [(a, "run-3", "again a")])
        assert _next(alice)["name"] == "run-3"
        with pytest.raises(TimeoutError):
            alice.recv(timeout=1)  # b's event was never for alice


def test_run_filter(streaming: tuple[str, NatsServer], tenants: Tenants) -> None:
    base, nats = streaming
    a = tenants.ns_a
    with _ws(base, tenants.alice.token, namespace=a, run="wanted") as ws:
        _publish(nats, [(a, "other", 1), (a, "wanted", 2)])
        assert _next(ws)["event"]["data"] == 2


def test_instance_and_session_filters_use_the_run_object(
    streaming: tuple[str, NatsServer], tenants: Tenants
) -> None:
    base, nats = streaming
    a = tenants.ns_a
    with client(base, tenants.alice.token) as http:
        for name in ("one", "two"):
            assert http.post(f"/api/v1/namespaces/{a}/instances", json=instance(name)).is_success
        runs = {}
        for name, session in (("one", "s-one"), ("two", "s-two")):
            body = {"instanceRef": name, "task": "t", "sessionKey": session}
            runs[name] = http.post(f"/api/v1/namespaces/{a}/runs", json=body).json()
    run_one, run_two = (runs[n]["metadata"]["name"] for n in ("one", "two"))
    with (
        _ws(base, tenants.alice.token, namespace=a, instance="two") as by_instance,
        _ws(base, tenants.alice.token, namespace=a, session="s-one") as by_session,
    ):
        _publish(nats, [(a, run_one, "from one"), (a, run_two, "from two")])
        assert _next(by_instance)["event"]["data"] == "from two"
        assert _next(by_session)["event"]["data"] == "from one"


def test_a_slow_reader_is_dropped_and_never_slows_the_others(
    streaming: tuple[str, NatsServer], tenants: Tenants
) -> None:
    base, nats = streaming
    a, count, blob = tenants.ns_a, 300, "x" * 60_000
    slow = _stalled_reader(base, tenants.alice.token, a)
    with slow, _ws(base, tenants.alice.token, namespace=a) as fast:
        names: list[str] = []
        reader = threading.Thread(
            target=lambda: names.extend(_next(fast)["name"] for _ in range(count))
        )
        reader.start()
        _publish(nats, [(a, f"r-{i}", blob) for i in range(count)])
        reader.join(timeout=120)
        assert names == [f"r-{i}" for i in range(count)]
        with client(base, None) as http:
            assert "k8sclaw_apiserver_stream_dropped 1.0" in http.get("/metrics").text
        assert _read_until_close_code(slow) == 1013


def test_revoking_the_binding_ends_the_stream(
    streaming: tuple[str, NatsServer], kube: KubeEnv, tenants: Tenants
) -> None:
    base, nats = streaming
    b = tenants.ns_b
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client)
    with _ws(base, tenants.bob.token, namespace=b) as bob:
        _publish(nats, [(b, "r", "before")])
        assert _next(bob)["event"]["data"] == "before"
        rbac.delete_namespaced_role_binding("bob-bob-role", b)
        deadline = time.monotonic() + 60
        with pytest.raises(ConnectionClosed) as info:
            while time.monotonic() < deadline:
                _publish(nats, [(b, "r", secrets.token_hex(4))])
                _drain(bob)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008


def _drain(ws: ClientConnection) -> None:
    with contextlib.suppress(TimeoutError):
        ws.recv(timeout=1)


def test_frames_are_not_compressed_per_client(
    streaming: tuple[str, NatsServer], tenants: Tenants
) -> None:
    """The client offers permessage-deflate; the server declines (one deflate per client
    per frame would multiply the fan-out cost)."""
    base, _ = streaming
    with _ws(base, tenants.alice.token, namespace=tenants.ns_a) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers


def test_run_filter_never_matches_a_channel_event_of_a_same_named_instance(
    streaming: tuple[str, NatsServer], tenants: Tenants
) -> None:
    base, nats = streaming
    a = tenants.ns_a

    async def publish_channel_then_run() -> None:
        bus = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"))
        try:
            await bus.publish(
                Event.new(events.CHANNEL_MESSAGE_RECEIVED, "channel"), scope=(a, "same")
            )
            await bus.publish(Event.new(events.AGENT_STREAM_CHUNK, "run"), scope=(a, "same"))
        finally:
            await bus.close()

    with _ws(base, tenants.alice.token, namespace=a, run="same") as ws:
        asyncio.run(publish_channel_then_run())
        assert _next(ws)["event"]["data"] == "run"
