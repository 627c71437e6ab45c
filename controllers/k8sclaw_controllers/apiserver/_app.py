"""The FastAPI application and what it holds while it runs.

The lifespan connects to the cluster (the API server's own ServiceAccount, for reads and
for the review APIs), to the bus when `EVENT_BUS_URL` is set (the stream hub), and opens
the transcript store (PostgreSQL at `DATABASE_URL`, else SQLite in `--data-dir`).
`/healthz`, `/readyz` and `/metrics` need no token; everything else does. With a secure
listener, the cluster's front-proxy settings are read too (`_frontproxy`); the aggregated
API (`_aggregated`) is routed on both listeners, but only a TLS peer verified by `_secure`
may speak for another user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from k8sclaw_controllers.apiserver import (
    _aggregated,
    _approvals,
    _errors,
    _frontproxy,
    _objects,
    _runs,
    _wsroute,
)
from k8sclaw_controllers.apiserver._auth import Authenticator, Authorizer
from k8sclaw_controllers.apiserver._deps import CallerDep, Deps, DepsDep
from k8sclaw_controllers.apiserver._limits import BodyLimit
from k8sclaw_controllers.apiserver._settings import Settings
from k8sclaw_controllers.apiserver._stream import Hub, RawSocket
from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import VERSION

log = logging.getLogger("k8sclaw.apiserver")


def static_token(settings: Settings) -> Callable[[], str | None]:
    """The admin token: the env value, else the file's current content (a mounted Secret
    is updated in place, so it is re-read when its modification time changes)."""
    cache: dict[str, Any] = {"mtime": None, "token": None}

    def read() -> str | None:
        if settings.api_token:
            return settings.api_token
        path: Path | None = settings.token_file
        if path is None:
            return None
        try:
            mtime = path.stat().st_mtime_ns
            if mtime != cache["mtime"]:
                cache["mtime"], cache["token"] = mtime, path.read_text().strip() or None
        except OSError:
            return None
        token: str | None = cache["token"]
        return token

    return read


def _system_router() -> APIRouter:
    api = APIRouter()

    @api.get("/healthz", response_class=PlainTextResponse, include_in_schema=False)
    async def healthz() -> str:
        return "ok"

    @api.get("/readyz", response_class=PlainTextResponse, include_in_schema=False)
    async def readyz(deps: DepsDep) -> Response:
        if deps.hub is not None and not deps.hub.bus.connected:
            return PlainTextResponse("event bus not connected", 503)
        if any(task.done() for task in deps.tasks):
            return PlainTextResponse("a background task (hub, recorder, sweeper) stopped", 503)
        return PlainTextResponse("ok")

    @api.get("/api/v1/namespaces", operation_id="list_namespaces", tags=["namespaces"])
    async def namespaces(deps: DepsDep, caller: CallerDep) -> dict[str, Any]:
        """Namespaces where the caller may list agentruns."""
        visible = await deps.visible_namespaces(caller, "list", "agentruns")
        if visible is None:
            listing = await deps.kube.get("/api/v1/namespaces")
            visible = {str(n["metadata"]["name"]) for n in listing.get("items") or []}
        return {"items": [{"name": name} for name in sorted(visible)]}

    return api


def _metrics(app: FastAPI) -> None:
    registry = CollectorRegistry()
    clients = Gauge(
        "k8sclaw_apiserver_stream_clients", "Open /ws/stream clients", registry=registry
    )
    dropped = Gauge(
        "k8sclaw_apiserver_stream_dropped", "Stream clients dropped as too slow", registry=registry
    )

    def hub_value(attr: str) -> Callable[[], float]:
        def read() -> float:
            hub = getattr(app.state, "deps", None) and app.state.deps.hub
            if hub is None:
                return 0.0
            value = getattr(hub, attr)
            return float(len(value) if isinstance(value, set) else value)

        return read

    clients.set_function(hub_value("clients"))
    dropped.set_function(hub_value("dropped"))

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def build_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="K8sClaw API",
        version=VERSION,
        lifespan=lambda app: _lifespan(app, settings),
        description="Kubernetes authenticates (TokenReview) and authorizes "
        "(SubjectAccessReview) every request; errors are `{error: {code, reason, message}}`.",
    )
    _errors.install(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(RawSocket)  # outermost of ours: sees uvicorn's own `send`
    app.include_router(_system_router())
    app.include_router(_objects.router())
    app.include_router(_runs.router())
    app.include_router(_approvals.router())
    app.include_router(_aggregated.router())
    app.add_api_websocket_route("/ws/stream", _wsroute.stream)
    _metrics(app)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        config = _kube.load_configuration(settings.kubeconfig)
        kube = _kube.Kube.connect(config)
        stack.push_async_callback(kube.close)
        deps = Deps(
            kube=kube,
            authn=Authenticator(kube, static_token(settings), settings.token_cache_seconds),
            authz=Authorizer(kube, settings.access_cache_seconds),
        )
        deps.transcripts = await _open_store(stack, settings, deps)
        if settings.secure_port is not None:
            deps.front_proxy = await _frontproxy.load(kube)
        if settings.event_bus_url:
            await _start_bus(stack, settings, deps)
        app.state.deps = deps
        yield


async def _open_store(stack: contextlib.AsyncExitStack, settings: Settings, deps: Deps) -> Any:
    """The transcript store, and its retention sweeper (at start, then hourly)."""
    from k8sclaw_controllers import transcripts

    store = await transcripts.open_store(settings.database_url, settings.data_dir)
    stack.push_async_callback(store.close)
    policy = transcripts.kube_policy(deps.kube, transcripts.Retention())
    sweeper = transcripts.run_sweeper(store, policy, settings.sweep_seconds)
    deps.tasks.append(asyncio.create_task(sweeper, name="apiserver-retention"))
    stack.push_async_callback(_stop, deps.tasks)
    return store


async def _start_bus(stack: contextlib.AsyncExitStack, settings: Settings, deps: Deps) -> None:
    """The stream hub and the transcript recorder, both fed by the bus."""
    from k8sclaw_controllers.transcripts import KubeRunLookup, run_recorder
    from k8sclaw_protocol import EventBus

    assert settings.event_bus_url
    bus = await EventBus.connect(
        settings.event_bus_url, name="k8sclaw-apiserver", credentials=settings.bus_creds
    )
    stack.push_async_callback(bus.close)
    lookup = KubeRunLookup(deps.kube)
    hub = Hub(bus, lookup, deps.authz, settings.ws_queue)
    deps.tasks.append(asyncio.create_task(hub.run(), name="apiserver-stream-hub"))
    recorder = run_recorder(bus, deps.transcripts, lookup)
    deps.tasks.append(asyncio.create_task(recorder, name="apiserver-recorder"))
    _start_router(settings, deps)
    stack.push_async_callback(_stop, deps.tasks)  # before the bus closes (LIFO)
    await hub.ready()
    deps.hub = hub


def _start_router(settings: Settings, deps: Deps) -> None:
    """The chat router, with its own bus identity, next to the transcript store it reads
    history from (docs/channels.md argues the placement); off with `--no-router`."""
    if not (settings.router and settings.router_creds and settings.event_bus_url):
        return
    from k8sclaw_controllers.router import run_router

    task = run_router(settings.event_bus_url, settings.router_creds, deps.kube, deps.transcripts)
    deps.tasks.append(asyncio.create_task(task, name="apiserver-router"))


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the background tasks (the list may have grown since this was registered)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
