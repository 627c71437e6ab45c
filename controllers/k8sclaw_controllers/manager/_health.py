"""Prometheus metrics plus /healthz and /readyz on one small aiohttp server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import prometheus_client
from aiohttp import web

REGISTRY = prometheus_client.CollectorRegistry()
RECONCILES = prometheus_client.Counter(
    "k8sclaw_controller_reconciles_total",
    "Watch events handled, by kind.",
    ["kind"],
    registry=REGISTRY,
)
ERRORS = prometheus_client.Counter(
    "k8sclaw_controller_reconcile_errors_total",
    "Handler failures, by kind.",
    ["kind"],
    registry=REGISTRY,
)
RUNS_STARTED = prometheus_client.Counter(
    "k8sclaw_agentruns_started_total", "AgentRuns whose Job was created.", registry=REGISTRY
)
RUNS_FINISHED = prometheus_client.Counter(
    "k8sclaw_agentruns_finished_total",
    "AgentRuns that became terminal, by phase and reason.",
    ["phase", "reason"],
    registry=REGISTRY,
)

EVENTS_DROPPED = prometheus_client.Counter(
    "k8sclaw_controller_events_dropped_total",
    "Kubernetes Events not posted because the event queue was full.",
    registry=REGISTRY,
)


Check = Callable[[], Awaitable[str | None]]
"""A readiness check: None when fine, else why the manager is not ready."""


async def _no_problem() -> str | None:
    return None


async def serve(
    host: str, port: int, ready: asyncio.Event, check: Check = _no_problem
) -> web.AppRunner:
    """Start the endpoint; /readyz answers 200 once `ready` is set (watches established)
    and while `check` finds nothing wrong (the bus and API connections, issue #13 item 12)."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if not ready.is_set():
            return web.Response(status=503, text="watches not established yet")
        problem = await check()
        if problem:
            return web.Response(status=503, text=problem)
        return web.Response(text="ok")

    async def metrics(_: web.Request) -> web.Response:
        body = prometheus_client.generate_latest(REGISTRY)
        return web.Response(
            body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.add_routes(
        [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
