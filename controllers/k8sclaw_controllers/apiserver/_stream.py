"""`/ws/stream`: live bus events for the runs a caller may watch.

One ephemeral JetStream consumer per API server (`Hub`) feeds every WebSocket. The hub
only filters by what the subject says (`k8sclaw.<topic>.<namespace>.<name>`: identity is
never read from a payload) and offers each frame to each matching client's bounded queue
without waiting: a client whose queue is full is dropped with close code 1013, so a slow
reader never slows the others. Each client's own writer task re-asks SubjectAccessReview
(cached) for the namespace of every frame it sends, so revoking a RoleBinding ends the
stream of that namespace within the cache TTL (close code 1008; a stream over all
namespaces just stops showing the revoked one), and resolves the instance and session of a
run from the AgentRun itself (cached) when the client filtered by them.

Fan-out cost is per frame per client, so it is kept to the minimum: each event is encoded
once, as the complete WebSocket text frame, and those bytes are shared by every
subscriber. When nothing is queued for a client and its permission is a cached yes (and
no instance/session lookup is needed), the hub writes the frame to the client's transport
itself, without waking the writer task. Otherwise the frame is queued; a writer that wakes
to several checks them (permission once per namespace) and sends them in one write, so
frames coalesce exactly when a client falls behind. Both paths need uvicorn's
`websockets-sansio` protocol (what `_main` configures) and honour its flow control: a
paused transport is never written directly and the writer waits for it, so the bounded
queue still fills and a slow client is still dropped. On any other server frames go
through ASGI `send_text`, one message each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from k8sclaw_controllers.apiserver._auth import Access, Authorizer, Caller
from k8sclaw_controllers.apiserver._kinds import RUNS
from k8sclaw_controllers.transcripts import RunLookup
from k8sclaw_protocol import events

log = logging.getLogger("k8sclaw.apiserver.stream")
CLOSE_FORBIDDEN = 1008  # policy violation: no longer allowed to watch
CLOSE_SLOW = 1013  # try again later: the client did not keep up
MAX_BATCH = 256  # frames one write may carry
PROTOCOL_KEY = "k8sclaw.ws_protocol"
"""Scope extension `RawSocket` sets: uvicorn's WebSocket protocol of this connection."""


@dataclass(frozen=True)
class Filter:
    namespace: str | None = None
    instance: str | None = None
    run: str | None = None
    session: str | None = None

    def selects(self, scoped: events.Scoped) -> bool:
        if self.namespace and scoped.namespace != self.namespace:
            return False
        if not self.run:
            return True
        # channel topics are scoped by instance: an instance named like the run is not it
        return scoped.name == self.run and not scoped.topic.startswith("channel.")


@dataclass(frozen=True, eq=False)
class Frame:
    """One event, encoded once for every subscriber."""

    payload: bytes
    """The JSON text of the message."""
    wire: bytes
    """The complete unmasked WebSocket text frame carrying `payload` (no extensions)."""

    @classmethod
    def of(cls, payload: bytes) -> Frame:
        size = len(payload)
        if size < 126:
            head = bytes((0x81, size))
        elif size < 1 << 16:
            head = b"\x81\x7e" + size.to_bytes(2, "big")
        else:
            head = b"\x81\x7f" + size.to_bytes(8, "big")
        return cls(payload, head + payload)


Item = tuple[events.Scoped, Frame]


@dataclass(eq=False)
class Client:
    ws: WebSocket
    caller: Caller
    filter: Filter
    queue: asyncio.Queue[Item]
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int = 1000
    sender: Sender | None = None
    """Set by the writer; its direct path lets the hub write without waking the writer."""
    busy: bool = False
    """The writer holds frames taken from the queue and not yet sent (order: wait)."""

    def offer(self, item: Item) -> bool:
        """Queue without waiting; False (and the client is marked for closing) when full."""
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.end(CLOSE_SLOW)
            return False
        return True

    def end(self, code: int) -> None:
        if not self.closed.is_set():
            self.close_code = code
            self.closed.set()


class Hub:
    """Fans bus events out to WebSocket clients."""

    def __init__(self, bus: Any, lookup: RunLookup, authz: Authorizer, queue_size: int) -> None:
        self.bus, self.lookup, self.authz, self.queue_size = bus, lookup, authz, queue_size
        self.clients: set[Client] = set()
        self.dropped = 0
        self._ready = asyncio.Event()

    async def run(self) -> None:
        """Consume every event from now on; runs until cancelled."""
        async with self.bus.subscribe(">", deliver="new") as sub:
            self._ready.set()
            async for event in sub:
                self.dispatch(event)
                # A queued burst is read without yielding: let the writers send in between,
                # or every client would look slow to a burst longer than its queue.
                await asyncio.sleep(0)

    async def ready(self) -> None:
        await self._ready.wait()

    def dispatch(self, event: events.Event) -> None:
        try:
            scoped = events.parse_subject(event.subject or "")
        except ValueError:
            return  # not about one object of one namespace: nobody's to see
        frame: Frame | None = None
        access = Access("watch", RUNS.plural, scoped.namespace)
        for client in list(self.clients):
            if client.closed.is_set() or not client.filter.selects(scoped):
                continue
            frame = frame or _frame(event, scoped)
            if self._write_now(client, access, frame):
                continue
            if not client.offer((scoped, frame)):
                self.dropped += 1

    def _write_now(self, client: Client, access: Access, frame: Frame) -> bool:
        """Write at once, without a task switch, when nothing is ahead of this frame, the
        permission is a cached yes and nothing else is to be looked up; else False (the
        writer task handles it, asking what it must)."""
        sender = client.sender
        if sender is None or client.busy or not client.queue.empty():
            return False
        if client.filter.instance or client.filter.session:
            return False
        if self.authz.cached(client.caller, access) is not True:
            return False
        return sender.write_now(frame)

    async def run_info(self, namespace: str, name: str) -> tuple[str, str] | None:
        """(instance, sessionKey) of a run, from the AgentRun itself (the recorder's cached
        lookup); None when it cannot be told."""
        try:
            info = await self.lookup(namespace, name)
        except Exception:
            return None
        return info.instance, info.session_key


def _frame(event: events.Event, scoped: events.Scoped) -> Frame:
    payload = orjson.dumps(
        {
            "subject": event.subject,
            "sequence": event.sequence,
            "topic": scoped.topic,
            "namespace": scoped.namespace,
            "name": scoped.name,
            "event": orjson.Fragment(event.to_bytes()),  # already JSON: not parsed again
        }
    )
    return Frame.of(payload)


class RawSocket:
    """ASGI middleware: puts uvicorn's WebSocket protocol object of the connection in the
    scope (`PROTOCOL_KEY`) when the server is the sansio one, so `Sender` can write prebuilt
    frames. Must sit outside any middleware that wraps `send`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        proto = getattr(send, "__self__", None)
        if scope["type"] == "websocket" and isinstance(proto, WebSocketsSansIOProtocol):
            scope = {
                **scope,
                "extensions": {**(scope.get("extensions") or {}), PROTOCOL_KEY: proto},
            }
        await self.app(scope, receive, send)


class Sender:
    """Sends batches of frames: one transport write on uvicorn's sansio protocol, else one
    ASGI message each."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        proto = (ws.scope.get("extensions") or {}).get(PROTOCOL_KEY)
        usable = isinstance(proto, WebSocketsSansIOProtocol) and not proto.conn.extensions
        self.raw: WebSocketsSansIOProtocol | None = proto if usable else None

    def write_now(self, frame: Frame) -> bool:
        """Write without waiting when the transport takes it now; False otherwise."""
        raw = self.raw
        if raw is None or not raw.writable.is_set():
            return False
        if raw.disconnected or raw.close_sent or raw.transport.is_closing():
            return False
        raw.transport.write(frame.wire)
        return True

    async def send(self, frames: list[Frame]) -> None:
        raw = self.raw
        if raw is None:
            for frame in frames:
                await self.ws.send_text(frame.payload.decode())
            return
        if not raw.writable.is_set():  # the transport's buffer is over its high-water mark
            await raw.writable.wait()
        if raw.disconnected or raw.close_sent or raw.transport.is_closing():
            raise WebSocketDisconnect(1006)
        raw.transport.write(
            b"".join(frame.wire for frame in frames) if len(frames) > 1 else frames[0].wire
        )


async def serve(hub: Hub, client: Client) -> None:
    """Write queued frames until the client leaves, is dropped or loses permission."""
    hub.clients.add(client)
    tasks = [asyncio.create_task(_writer(hub, client)), asyncio.create_task(_reader(client))]
    try:
        await client.closed.wait()
    finally:
        hub.clients.discard(client)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # No timeout: the close frame waits behind what a slow client has not read yet
        # (bounded by the transport's buffer); a peer that stops answering pings is cut
        # off by the server, which ends this wait too. Only this client's task waits.
        with contextlib.suppress(Exception):
            await client.ws.close(client.close_code)


async def _reader(client: Client) -> None:
    """Discard what the client sends; notice when it goes."""
    try:
        while True:
            message = await client.ws.receive()
            if message["type"] == "websocket.disconnect":
                break
    except (WebSocketDisconnect, RuntimeError):
        pass
    client.end(1000)


async def _writer(hub: Hub, client: Client) -> None:
    sender = client.sender = Sender(client.ws)
    queue = client.queue
    try:
        while True:
            client.busy = False
            batch = [await queue.get()]
            client.busy = True
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            allowed: dict[str, bool] = {}  # asked once per namespace per batch
            out: list[Frame] = []
            for scoped, frame in batch:
                ok = allowed.get(scoped.namespace)
                if ok is None:
                    access = Access("watch", RUNS.plural, scoped.namespace)
                    ok = allowed[scoped.namespace] = await hub.authz.allowed(client.caller, access)
                if not ok:
                    if client.filter.namespace:  # the one namespace it subscribed to: revoked
                        client.end(CLOSE_FORBIDDEN)
                        return
                    continue  # an all-namespaces stream skips what it may not see
                if await _wanted(hub, client.filter, scoped):
                    out.append(frame)
            if out:
                await sender.send(out)
    except (WebSocketDisconnect, RuntimeError, OSError):
        client.end(1000)
    except Exception:
        log.exception("stream writer failed")
        client.end(1011)


async def _wanted(hub: Hub, flt: Filter, scoped: events.Scoped) -> bool:
    if not (flt.instance or flt.session):
        return True
    if scoped.topic.startswith("channel."):
        # channel topics are scoped by instance; they have no session
        return not flt.session and scoped.name == flt.instance
    info = await hub.run_info(scoped.namespace, scoped.name)
    if info is None:
        return False
    instance, session = info
    return (not flt.instance or instance == flt.instance) and (
        not flt.session or session == flt.session
    )
