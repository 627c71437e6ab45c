"""Kubernetes Events on significant transitions, so `kubectl describe` tells the story.

Events never sit on a reconcile's path: `Recorder` queues them and a couple of workers
post them, like client-go's event broadcaster. During a burst of 1,000 runs the Job
creates and status patches go first and the Events follow; when the queue is full the
newest are dropped (counted in a metric), never blocking a reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from k8sclaw_controllers.manager import _health, _kube

log = logging.getLogger("k8sclaw.controller.events")
COMPONENT = "k8sclaw-controller"
MAX_QUEUED = 5000
WORKERS = 2
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
        self._queue: asyncio.Queue[dict[str, Any]] | None = None

    def record(self, obj: dict[str, Any], reason: str, message: str, warning: bool) -> None:
        """Queue an Event about `obj`; dropped (and counted) when the queue is full."""
        if self._queue is None:
            self._queue = asyncio.Queue(MAX_QUEUED)
            for _ in range(WORKERS):
                self._spawn(self._work(self._queue))
        body = event_body(obj, "Warning" if warning else "Normal", reason, message)
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            _health.EVENTS_DROPPED.inc()

    async def flush(self, seconds: float) -> None:
        """Wait (at most `seconds`) until every queued Event has been posted."""
        if self._queue is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), seconds)

    async def _work(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            body = await queue.get()
            try:
                await _send(self._kube, body)
            finally:
                queue.task_done()


async def _send(kube: _kube.Kube, body: dict[str, Any]) -> None:
    try:
        await kube.create(_kube.core(body["metadata"]["namespace"], "events"), body)
    except (_kube.KubeError, OSError, TimeoutError) as exc:
        log.warning(
            "could not post event %s for %s: %s", body["reason"], body["involvedObject"], exc
        )
