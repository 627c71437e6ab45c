"""Kubernetes Events on significant transitions, so `kubectl describe` tells the story.

Events never sit on a reconcile's path: `Recorder` queues them and a couple of workers
post them, like client-go's event broadcaster. They also yield to reconciles: a worker
posts once no reconcile has run for `QUIET_SECONDS` (or its Event has waited
`MAX_DELAY_SECONDS`), so during a burst of 1,000 runs the API server's capacity goes to
the Job creates and status patches that start runs, and the Events follow right after.
When the queue is full the newest are dropped (counted in a metric), never blocking a
reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any

from k8sclaw_controllers.manager import _health, _kube

log = logging.getLogger("k8sclaw.controller.events")
COMPONENT = "k8sclaw-controller"
MAX_QUEUED = 5000
WORKERS = 2
QUIET_SECONDS = 0.05
MAX_DELAY_SECONDS = 10.0
Spawn = Callable[[Coroutine[Any, Any, None]], None]


def event_body(obj: dict[str, Any], kind_type: str, reason: str, message: str) -> dict[str, Any]:
    """A core/v1 Event about `obj` (a dict with apiVersion, kind and metadata)."""
    meta = obj.get("metadata", {})
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "generateName": f"{meta.get('name', 'k8sclaw')}.",
            "namespace": meta.get("namespace"),
        },
        "involvedObject": {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
        },
        "type": kind_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


async def post(
    kube: _kube.Kube, obj: dict[str, Any], reason: str, message: str, warning: bool = False
) -> None:
    """Post an Event; failures are logged, never raised."""
    await _send(kube, event_body(obj, "Warning" if warning else "Normal", reason, message))


class Recorder:
    """A bounded queue of Events and the workers that post them (started on first use)."""

    def __init__(self, kube: _kube.Kube, spawn: Spawn) -> None:
        self._kube = kube
        self._spawn = spawn
        self._queue: asyncio.Queue[tuple[float, dict[str, Any]]] | None = None
        self._running = 0  # reconciles in flight
        self._last_busy = 0.0  # monotonic time the last reconcile ended
        self._draining = False

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Mark a reconcile in flight: queued Events wait until reconciles pause."""
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            self._last_busy = time.monotonic()

    def record(self, obj: dict[str, Any], reason: str, message: str, warning: bool) -> None:
        """Queue an Event about `obj`; dropped (and counted) when the queue is full."""
        if self._queue is None:
            self._queue = asyncio.Queue(MAX_QUEUED)
            for _ in range(WORKERS):
                self._spawn(self._work(self._queue))
        body = event_body(obj, "Warning" if warning else "Normal", reason, message)
        try:
            self._queue.put_nowait((time.monotonic(), body))
        except asyncio.QueueFull:
            _health.EVENTS_DROPPED.inc()

    async def flush(self, seconds: float) -> None:
        """Post every queued Event now (no more yielding), waiting at most `seconds`."""
        self._draining = True
        if self._queue is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), seconds)

    async def _work(self, queue: asyncio.Queue[tuple[float, dict[str, Any]]]) -> None:
        while True:
            queued, body = await queue.get()
            try:
                await self._quiet(queued + MAX_DELAY_SECONDS)
                await _send(self._kube, body)
            finally:
                queue.task_done()

    async def _quiet(self, deadline: float) -> None:
        """Return once no reconcile has run for QUIET_SECONDS, or at `deadline`."""
        while not self._draining:
            now = time.monotonic()
            calm = self._running == 0 and now - self._last_busy >= QUIET_SECONDS
            if calm or now >= deadline:
                return
            await asyncio.sleep(QUIET_SECONDS)


async def _send(kube: _kube.Kube, body: dict[str, Any]) -> None:
    try:
        await kube.create(_kube.core(body["metadata"]["namespace"], "events"), body, read=False)
    except (_kube.KubeError, OSError, TimeoutError) as exc:
        log.warning(
            "could not post event %s for %s: %s", body["reason"], body["involvedObject"], exc
        )
