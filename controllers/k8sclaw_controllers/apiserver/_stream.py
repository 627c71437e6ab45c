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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from k8sclaw_controllers.apiserver._auth import Access, Authorizer, Caller
from k8sclaw_controllers.apiserver._kinds import RUNS
from k8sclaw_controllers.transcripts import RunLookup
from k8sclaw_protocol import events

log = logging.getLogger("k8sclaw.apiserver.stream")
CLOSE_FORBIDDEN = 1008  # policy violation: no longer allowed to watch
CLOSE_SLOW = 1013  # try again later: the client did not keep up


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


Item = tuple[events.Scoped, str]


@dataclass(eq=False)
class Client:
    ws: WebSocket
    caller: Caller
    filter: Filter
    queue: asyncio.Queue[Item]
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int = 1000

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
        frame: str | None = None
        for client in list(self.clients):
            if client.closed.is_set() or not client.filter.selects(scoped):
                continue
            frame = frame or _frame(event, scoped)
            if not client.offer((scoped, frame)):
                self.dropped += 1

    async def run_info(self, namespace: str, name: str) -> tuple[str, str] | None:
        """(instance, sessionKey) of a run, from the AgentRun itself (the recorder's cached
        lookup); None when it cannot be told."""
        try:
            info = await self.lookup(namespace, name)
        except Exception:
            return None
        return info.instance, info.session_key


def _frame(event: events.Event, scoped: events.Scoped) -> str:
    envelope = orjson.loads(event.to_bytes())
    return orjson.dumps(
        {
            "subject": event.subject,
            "sequence": event.sequence,
            "topic": scoped.topic,
            "namespace": scoped.namespace,
            "name": scoped.name,
            "event": envelope,
        }
    ).decode()


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
    try:
        while True:
            scoped, frame = await client.queue.get()
            access = Access("watch", RUNS.plural, scoped.namespace)
            if not await hub.authz.allowed(client.caller, access):
                if client.filter.namespace:  # the one namespace it subscribed to: revoked
                    client.end(CLOSE_FORBIDDEN)
                    return
                continue  # an all-namespaces stream skips what it may not see
            if not await _wanted(hub, client.filter, scoped):
                continue
            await client.ws.send_text(frame)
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
