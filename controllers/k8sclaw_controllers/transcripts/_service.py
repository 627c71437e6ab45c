"""`run_transcripts`: everything the API server process runs for transcripts, in one call.

The recorder and the retention sweeper share the store and the Kubernetes client; they run
until cancelled, and if one fails the other is cancelled and the error surfaces (the API
server then exits and is restarted, rather than serving while silently not recording).
"""

from __future__ import annotations

import asyncio

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.transcripts import _interface, _lookup, _recorder, _retention, _rows
from k8sclaw_protocol import EventBus


async def run_transcripts(
    bus: EventBus,
    store: _interface.TranscriptStore,
    kube: _kube.Kube,
    *,
    retention: _rows.Retention | None = None,
    sweep_interval: float = 3600.0,
    durable: str = _recorder.DURABLE,
) -> None:
    """Record every run event and enforce retention until cancelled.

    `retention` is the default for instances without retention annotations (30 days,
    no event cap, when not given)."""
    default = retention or _rows.Retention()
    lookup = _lookup.KubeRunLookup(kube)
    policy = _retention.kube_policy(kube, default)
    async with asyncio.TaskGroup() as group:
        group.create_task(_recorder.run_recorder(bus, store, lookup, durable=durable))
        group.create_task(_retention.run_sweeper(store, policy, sweep_interval))
