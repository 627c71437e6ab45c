"""Watch streams: replay from a resourceVersion, then follow live events.

A watch without a resourceVersion (or with "0") starts with synthetic ADDED events for
the current state; one with a version replays the retained history after it (410 Gone,
sent as an ERROR event, when it was compacted). `timeoutSeconds` ends the stream and
`allowWatchBookmarks` adds periodic BOOKMARK events, as kube-apiserver does.
As kube-apiserver's watch cache does, a change that makes an object stop matching the
watch's selectors is sent as DELETED (the object as it was before, with the change's
resourceVersion), and one that makes it start matching as ADDED.

Events already queued for a watch leave in one write (their lines joined, in order): one
chunk and one socket send for a burst instead of one per event; a client reads the same
lines either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.harness.kube import _errors, _wire
from tests.harness.kube._cluster import Cluster
from tests.harness.kube._server import Request, StreamResponse
from tests.harness.kube._store import Event, Obj
from tests.harness.kube._types import ResourceType

BOOKMARK_INTERVAL = 1.0
BACKLOG_BATCH = 1000
"""Lines of a replayed history per write, so a long backlog is not joined into one buffer."""


@dataclass
class Scope:
    """What one watch looks at: a type, maybe a namespace, and a selector predicate."""

    cluster: Cluster
    rtype: ResourceType
    namespace: str | None
    matches: Callable[[Obj], bool]

    def seen_as(self, event: Event) -> str | None:
        """The event's type as this watch sees it, None if it sees nothing (kube-apiserver's
        cacheWatcher: the selectors are checked on the object before and after a change)."""
        if event.key != self.rtype.key or self.namespace not in (None, event.namespace):
            return None
        now = self.matches(event.obj)
        if event.type != "MODIFIED" or event.prev is None:
            return event.type if now else None
        before = self.matches(event.prev)
        if now:
            return "MODIFIED" if before else "ADDED"
        return "DELETED" if before else None

    def line(self, kind: str, obj: Obj) -> bytes:
        if kind != "ERROR":
            obj = self.cluster.render(self.rtype, dict(obj))
        return _wire.dumps({"type": kind, "object": obj}) + b"\n"

    def event_line(self, event: Event, kind: str) -> bytes:
        """The line for a stored event seen as `kind` (from `seen_as`), serialised once per
        apiVersion and type for all watches."""
        key = (self.rtype.api_version, kind)
        line = event.lines.get(key)
        if line is None:
            line = event.lines[key] = self.line(kind, _object_as(kind, event))
        return line


def _object_as(kind: str, event: Event) -> Obj:
    """The object a watch is sent: for a change that made it stop matching, the object as
    it was, at the change's resourceVersion (as kube-apiserver sends it)."""
    if kind != "DELETED" or event.type == "DELETED" or event.prev is None:
        return event.obj
    meta = {**event.prev["metadata"], "resourceVersion": event.obj["metadata"]["resourceVersion"]}
    return {**event.prev, "metadata": meta}


async def serve(request: Request, scope: Scope, stopping: asyncio.Event) -> StreamResponse:
    """Stream watch events until `timeoutSeconds`, client disconnect or server shutdown."""
    query = request.query
    limit = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
    bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
    inbox = Inbox(scope)
    unsubscribe = scope.cluster.store.subscribe(inbox.offer)
    try:
        lines = _backlog(scope, query.get("resourceVersion", ""))
    except _errors.ApiError as exc:
        lines, limit = [scope.line("ERROR", exc.status())], 0
    response = StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    try:
        for start in range(0, len(lines), BACKLOG_BATCH):
            await response.write(b"".join(lines[start : start + BACKLOG_BATCH]))
        await _follow(response, inbox, (limit, bookmarks), stopping)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        unsubscribe()
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


def _backlog(scope: Scope, rv: str) -> list[bytes]:
    if rv in ("", "0"):
        current = scope.cluster.list_views(scope.rtype, scope.namespace)
        return [scope.line("ADDED", o) for o in current if scope.matches(o)]
    try:
        since = int(rv)
    except ValueError as exc:
        raise _errors.bad_request(f"invalid resource version: {rv}") from exc
    events = scope.cluster.store.events_since(since)
    seen = ((e, scope.seen_as(e)) for e in events)
    return [scope.event_line(e, kind) for e, kind in seen if kind is not None]


class Inbox:
    """One watch's pending events. `offer` (a store listener) filters and queues; `wait`
    blocks until something is queued or a timeout passes, with one future and one timer
    per wait (`asyncio.wait_for` on a queue made a task as well, per event)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._events: deque[tuple[Event, str]] = deque()  # with the type this watch sees
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, event: Event) -> None:
        # Filtered here, not when sending: a watch wakes only for its own events.
        kind = self.scope.seen_as(event)
        if kind is not None:
            self._events.append((event, kind))
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)

    async def wait(self, seconds: float) -> bool:
        """True once an event is queued; False if `seconds` pass first."""
        if not self._events:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(seconds, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        return bool(self._events)

    def take(self) -> bytes:
        """The lines of every event queued now, in order, joined for one write."""
        events, self._events = self._events, deque()
        return b"".join(self.scope.event_line(e, kind) for e, kind in events)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _follow(
    response: StreamResponse,
    inbox: Inbox,
    options: tuple[float | None, bool],
    stopping: asyncio.Event,
) -> None:
    limit, bookmarks = options
    loop = asyncio.get_running_loop()
    deadline = None if limit is None else loop.time() + limit
    while not stopping.is_set():
        wait = BOOKMARK_INTERVAL if bookmarks else 0.5
        if deadline is not None:
            wait = min(wait, deadline - loop.time())
            if wait <= 0:
                return
        if await inbox.wait(wait):
            await response.write(inbox.take())
        elif bookmarks:
            # Nothing is queued: every wanted event up to the store's version was sent.
            scope = inbox.scope
            rv = scope.cluster.store.resource_version
            await response.write(scope.line("BOOKMARK", _bookmark(scope.rtype, rv)))


def _bookmark(rtype: ResourceType, rv: str) -> dict[str, Any]:
    return {
        "kind": rtype.kind,
        "apiVersion": rtype.api_version,
        "metadata": {"resourceVersion": rv},
    }
