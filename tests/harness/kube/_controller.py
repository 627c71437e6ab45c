"""Base of the in-process controllers (garbage collector, namespaces, Jobs).

Writes go through a `ClientRateLimit` (`limit`), shared by the controllers of one
emulator as kube-controller-manager's writes go through its clients' limiters.

Each controller subscribes to store events, queues the ones it cares about and handles
them one at a time on the emulator's loop, through the same `Cluster` verbs a real
controller would call over HTTP (so admission applies to what they create).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from tests.harness.kube import _errors
from tests.harness.kube._cluster import Cluster
from tests.harness.kube._store import Event

log = logging.getLogger(__name__)


class ClientRateLimit:
    """kube-controller-manager's client-side rate limit: a token bucket of `burst` tokens
    refilled at `qps` per second, one token per API write (its `--kube-api-qps` and
    `--kube-api-burst`, upstream defaults 20 and 30; `qps <= 0` turns the limit off).

    Without it the in-process Job controller made 1,000 pods as fast as the loop ran,
    which no real control plane does with default flags, and it competed with the
    clients being measured for the emulator's one thread.
    """

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.qps, self.burst, self._clock = qps, max(burst, 1), clock
        self._tokens = float(self.burst)
        self._stamp = clock()

    def reserve(self) -> float:
        """Spend a token now; the seconds to wait before using it (0: none)."""
        if self.qps <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.qps)
        self._stamp = now
        self._tokens -= 1
        return max(-self._tokens / self.qps, 0.0)  # a debt the refill pays off

    async def take(self) -> None:
        """Wait until a token is available, then spend it."""
        delay = self.reserve()
        if delay:
            await asyncio.sleep(delay)


class Controller:
    """Queue store events, handle them sequentially; API errors are logged, not fatal."""

    def __init__(self, cluster: Cluster, limit: ClientRateLimit | None = None) -> None:
        self.cluster = cluster
        self.limit = limit or ClientRateLimit(0, 1)  # paces the controller's writes
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
