"""Base of the in-process controllers (garbage collector, namespaces, Jobs).

Each controller subscribes to store events, queues the ones it cares about and handles
them one at a time on the emulator's loop, through the same `Cluster` verbs a real
controller would call over HTTP (so admission applies to what they create).
"""

from __future__ import annotations

import asyncio
import logging

from tests.harness.kube import _errors
from tests.harness.kube._cluster import Cluster
from tests.harness.kube._store import Event

log = logging.getLogger(__name__)


class Controller:
    """Queue store events, handle them sequentially; API errors are logged, not fatal."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._unsubscribe = cluster.store.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if self.wants(event):
            self._queue.put_nowait(event)

    def wants(self, event: Event) -> bool:
        raise NotImplementedError

    async def handle(self, event: Event) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        try:
            while True:
                event = await self._queue.get()
                try:
                    await self.handle(event)
                except _errors.ApiError as exc:
                    log.debug("%s: %s", type(self).__name__, exc.message)
        finally:
            self._unsubscribe()
