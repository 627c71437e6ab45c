"""Active AgentRuns per instance, kept by one watch, for the concurrency rule.

Why a watch here and live reads for instances and policies (`_source`): counting by a
live LIST costs O(runs of the instance) per admission (terminal runs stay until they
are cleaned up), and it grew to most of the webhook's latency at 1,000 runs; a
ClawPolicy or ClawInstance GET is O(1) and keeps "a policy change applies to the next
run" exact, so those stay live.

The count served is exact for sequential creates through this webhook, whatever the
watch's lag: every run this process admits is counted as *pending* from the moment it
is admitted until the watch shows it (or `PENDING_TTL` passes, meaning it was never
stored, e.g. a later webhook refused it). Runs are keyed by (namespace, name), so a
run seen both ways counts once. Creates racing in parallel, or through another
replica within the watch's lag, can pass one over the limit — so could a live LIST;
the controller's start-time check (`manager` precheck) is the authority that holds
such a run back. Until the first LIST has been loaded, and after the watch fails,
`count` returns None and the caller falls back to a live LIST.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import kubernetes

from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import TERMINAL_PHASES, AgentRun, names

log = logging.getLogger("k8sclaw.webhook.runs")
Body = dict[str, Any]
Key = tuple[str, str]
PENDING_TTL = 30.0
"""Seconds an admitted run is counted before the watch must have shown it."""
PATH = f"/apis/{names.GROUP_VERSION}/{AgentRun.info.plural}"


def is_active(item: Body) -> bool:
    """Whether an AgentRun (wire form) holds a slot: not being deleted, not terminal."""
    meta = item.get("metadata") or {}
    return not meta.get("deletionTimestamp") and (
        (item.get("status") or {}).get("phase") not in TERMINAL_PHASES
    )


def _state(item: Body) -> tuple[Key, str, bool]:
    meta = item.get("metadata") or {}
    key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
    instance = str((meta.get("labels") or {}).get(names.LABEL_INSTANCE, ""))
    instance = instance or str((item.get("spec") or {}).get("instanceRef", ""))
    return key, instance, is_active(item)


class RunIndex:
    """Which runs of each instance are Pending or Running, fed by a cluster-wide watch."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._owner: dict[Key, str] = {}
        self._active: dict[Key, set[str]] = {}
        self._pending: dict[Key, tuple[str, float]] = {}
        self.synced = False
        self.resource_version = ""

    def _forget(self, key: Key) -> None:
        owner = self._owner.pop(key, None)
        if owner is not None:
            self._active.get((key[0], owner), set()).discard(key[1])

    def _store(self, item: Body) -> None:
        key, instance, active = _state(item)
        self._forget(key)
        self._pending.pop(key, None)
        self._owner[key] = instance
        if active:
            self._active.setdefault((key[0], instance), set()).add(key[1])

    def load(self, listing: Body) -> None:
        """Replace the state with a LIST response; the index is synced afterwards."""
        self._owner, self._active = {}, {}
        for item in listing.get("items") or []:
            self._store(item)
        self.resource_version = str((listing.get("metadata") or {}).get("resourceVersion", ""))
        self.synced = True

    def apply(self, event: Body) -> None:
        """Apply one watch event (ADDED, MODIFIED, DELETED, BOOKMARK)."""
        kind, item = event.get("type"), event.get("object") or {}
        version = (item.get("metadata") or {}).get("resourceVersion")
        if version:
            self.resource_version = str(version)
        if kind == "BOOKMARK":
            return
        if kind == "DELETED":
            key = _state(item)[0]
            self._forget(key)
            self._pending.pop(key, None)
        else:
            self._store(item)

    def admitted(self, namespace: str, name: str, instance: str) -> None:
        """Count a run this webhook just admitted until the watch reports it."""
        key = (namespace, name)
        if key not in self._owner:
            self._pending[key] = (instance, self._clock() + PENDING_TTL)

    def count(self, namespace: str, instance: str, exclude: str) -> int | None:
        """Active runs of the instance other than `exclude`; None while not synced."""
        if not self.synced:
            return None
        now = self._clock()
        expired = [key for key, (_, deadline) in self._pending.items() if deadline <= now]
        for key in expired:
            del self._pending[key]
        running = set(self._active.get((namespace, instance), ()))
        running |= {
            key[1]
            for key, (owner, _) in self._pending.items()
            if owner == instance and key[0] == namespace
        }
        running.discard(exclude)
        return len(running)


class RunWatch:
    """Keeps a `RunIndex` current: LIST, then WATCH from its resourceVersion.

    A watch the server ends normally is resumed from the last resourceVersion; an
    error (410 Gone after compaction, a refused or dropped connection) marks the index
    unsynced and re-lists after `retry` seconds.
    """

    def __init__(self, config: kubernetes.client.Configuration, index: RunIndex) -> None:
        headers = {"Accept": "application/json"}
        if auth := _kube.auth_header(config):
            headers["Authorization"] = auth
        connector = aiohttp.TCPConnector(limit=2, ssl=_kube._ssl_context(config))
        self._session = aiohttp.ClientSession(connector=connector, headers=headers)
        self._host = str(config.host).rstrip("/")
        self.index = index

    async def close(self) -> None:
        """Close the watch's connection pool."""
        await self._session.close()

    async def _list(self) -> None:
        async with self._session.get(self._host + PATH) as reply:
            if reply.status >= 400:
                raise _kube.KubeError(reply.status, reply.reason or "", await reply.text())
            self.index.load(await reply.json())

    async def _watch(self) -> None:
        params = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.index.resource_version,
        }
        forever = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
        async with self._session.get(self._host + PATH, params=params, timeout=forever) as reply:
            if reply.status >= 400:
                raise _kube.KubeError(reply.status, reply.reason or "", await reply.text())
            async for line in reply.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise _kube.KubeError(
                        int(status.get("code") or 410), "Expired", str(status.get("message"))
                    )
                self.index.apply(event)

    async def run(self, retry: float = 1.0) -> None:
        """Keep the index current until cancelled."""
        while True:
            try:
                if not self.index.synced:
                    await self._list()
                await self._watch()
            except (_kube.KubeError, aiohttp.ClientError, OSError, ValueError) as error:
                log.warning("AgentRun watch interrupted (%s); re-listing", error)
                self.index.synced = False
                await asyncio.sleep(retry)
