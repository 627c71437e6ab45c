"""List-then-watch one collection, and dispatch each object's events to a handler in order.

Why our own and not kopf's: the manager only ever used kopf's low-level event handlers
(no finalizers, no diff-based handlers, no peering, its own REST client and retries),
and in a burst of 1,000 AgentRuns kopf's per-event machinery (causes, kwargs, loggers,
progress bookkeeping) was a third of the controller's CPU. What is kept is what
client-go's informers do:

* `list_watch`: LIST, then WATCH from the list's resourceVersion with bookmarks; a watch
  the server ends is resumed from the last version seen; 410 Gone (the version was
  compacted) or a failed request re-lists after a back-off. One definition, used by the
  manager's informers and the webhook's run index.
* `Informer`: per object (namespace/name), one handler call at a time, in event order;
  events arriving while a call is in flight are coalesced to the latest one. A re-list
  reports objects that vanished during the gap as DELETED with a tombstone body
  (apiVersion, kind, metadata.namespace/name only), so nothing waits forever on an
  object that is gone; handlers read only the key of a DELETED body.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import orjson

from k8sclaw_controllers.manager import _kube

log = logging.getLogger("k8sclaw.controller.watch")
Body = dict[str, Any]
Key = tuple[str, str]
Handler = Callable[[Body, str | None], Awaitable[None]]
SERVER_TIMEOUT = 300
"""Seconds the API server keeps one watch open before it ends it (we then resume)."""
RETRY_INITIAL, RETRY_MAX = 0.2, 10.0


class Sink(Protocol):
    """Where `list_watch` delivers a collection's state."""

    def listed(self, items: list[Body]) -> None:
        """A fresh LIST: the whole collection as of now."""

    def changed(self, kind: str, obj: Body) -> None:
        """One watch event: ADDED, MODIFIED or DELETED."""

    def interrupted(self) -> None:
        """The watch failed; the state is stale until the next `listed`."""


class Gone(_kube.KubeError):
    """The watch's resourceVersion was compacted away (410): re-list."""


async def list_watch(kube: _kube.Kube, path: str, sink: Sink, label_selector: str = "") -> None:
    """Keep `sink` current with the collection at `path` until cancelled."""
    version = ""
    delay = RETRY_INITIAL
    while True:
        try:
            if not version:
                version = await _list(kube, path, sink, label_selector)
            async for kind, obj in _watch(kube, path, version, label_selector):
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if kind != "BOOKMARK":
                    sink.changed(kind, obj)
                delay = RETRY_INITIAL
        except Gone:
            log.info("watch of %s expired (410); re-listing", path)
            version = ""
        except (_kube.KubeError, OSError, TimeoutError, ValueError) as exc:
            log.warning("watch of %s failed (%s); retrying in %.1fs", path, exc, delay)
            sink.interrupted()
            version = ""
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)


async def _list(kube: _kube.Kube, path: str, sink: Sink, label_selector: str) -> str:
    params = {"labelSelector": label_selector} if label_selector else {}
    listing = await kube.get(path, **params)
    items: list[Body] = listing.get("items") or []
    # List items carry no apiVersion/kind on the wire; the reconcilers' models need them.
    kind = str(listing.get("kind") or "").removesuffix("List")
    for item in items:
        item.setdefault("apiVersion", listing.get("apiVersion"))
        item.setdefault("kind", kind)
    sink.listed(items)
    return str((listing.get("metadata") or {}).get("resourceVersion") or "")


async def _watch(
    kube: _kube.Kube, path: str, version: str, label_selector: str
) -> AsyncIterator[tuple[str, Body]]:
    params = {
        "watch": "true",
        "allowWatchBookmarks": "true",
        "resourceVersion": version,
        "timeoutSeconds": str(SERVER_TIMEOUT),
    }
    if label_selector:
        params["labelSelector"] = label_selector
    async for line in kube.stream_lines(path, params, read_timeout=SERVER_TIMEOUT + 30):
        event = orjson.loads(line)
        kind, obj = str(event.get("type")), event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 500)
            error = Gone if code == 410 else _kube.KubeError
            raise error(code, str(obj.get("reason") or ""), str(obj.get("message") or ""))
        yield kind, obj


def object_key(obj: Body) -> Key:
    """(namespace, name) of an object in wire form."""
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Informer:
    """A `Sink` that calls `handler(body, event_type)` per object, serially and coalesced.

    `event_type` is None for objects seen in a LIST (kopf's convention, which the
    reconcilers treat like ADDED/MODIFIED). `synced` is set after the first LIST. With a
    `handling` event, no handler starts before it is set (objects are still tracked), so
    a manager can list every kind before it acts on any.
    """

    def __init__(self, handler: Handler, handling: asyncio.Event | None = None) -> None:
        self._handler = handler
        self._handling = handling  # set: handlers may run (until then, events only queue)
        self._known: set[Key] = set()
        self._type = {"apiVersion": "", "kind": ""}  # of this collection, for tombstones
        self._next: dict[Key, tuple[Body, str | None]] = {}
        self._busy: set[Key] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.synced = asyncio.Event()

    def listed(self, items: list[Body]) -> None:
        """Dispatch every listed object, and DELETED for known objects no longer listed."""
        vanished = set(self._known)
        for obj in items:
            vanished.discard(object_key(obj))
            self.changed(None, obj)
        for namespace, name in sorted(vanished):
            meta = {"namespace": namespace, "name": name}
            self.changed("DELETED", {**self._type, "metadata": meta})
        self.synced.set()

    def changed(self, kind: str | None, obj: Body) -> None:
        """Dispatch one event: now if the object is idle, else after its current call."""
        key = object_key(obj)
        if kind == "DELETED":
            self._known.discard(key)
        else:
            self._known.add(key)
            if not self._type["kind"]:
                self._type = {"apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", "")}
        if key in self._busy:
            self._next[key] = (obj, kind)
            return
        self._busy.add(key)
        task = asyncio.get_running_loop().create_task(self._work(key, obj, kind))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def interrupted(self) -> None:
        """Nothing to do: the next LIST brings every object (and vanished ones) back."""

    def knows(self, key: Key) -> bool | None:
        """Whether the object exists as of the last event seen; None before the first LIST."""
        return key in self._known if self.synced.is_set() else None

    async def _work(self, key: Key, obj: Body, kind: str | None) -> None:
        try:
            if self._handling is not None and not self._handling.is_set():
                await self._handling.wait()
                obj, kind = self._next.pop(key, (obj, kind))  # only the latest matters
            while True:
                try:
                    await self._handler(obj, kind)
                except Exception:
                    log.exception("handler failed for %s/%s", *key)
                if key not in self._next:
                    return
                obj, kind = self._next.pop(key)
        finally:
            self._busy.discard(key)
