"""Wiring: one informer per watched kind and namespace -> our reconcilers, and the
health endpoint (ready once every collection has been listed).

Single replica by design (Deployment strategy Recreate): every decision is idempotent and
keyed by deterministic names, so a restart or a brief overlap cannot duplicate a Job.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from k8sclaw_controllers.manager import (
    _agentrun,
    _buswatch,
    _clawpolicy,
    _health,
    _instance,
    _kube,
    _pods,
    _schedule,
    _settings,
    _skills,
)
from k8sclaw_controllers.manager._clock import Clock, Key, SystemClock
from k8sclaw_controllers.manager._context import Context
from k8sclaw_controllers.manager._informer import Informer, list_watch
from k8sclaw_controllers.manager._state import State
from k8sclaw_protocol import names

log = logging.getLogger("k8sclaw.controller")
Handler = Callable[[Context, dict[str, Any], str | None], Awaitable[None]]
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
EVENT_FLUSH_SECONDS = 2.0
RETRY_TICK = timedelta(seconds=5)


async def _guarded(
    ctx: Context, watched: Watched, body: dict[str, Any], event_type: str | None
) -> None:
    """Run a handler, retrying transient API failures."""
    kind = watched.kind
    _health.RECONCILES.labels(kind).inc()
    for delay in (*RETRY_DELAYS, None):
        try:
            with ctx.recorder.busy():
                await watched.handler(ctx, body, event_type)
            return
        except _kube.NotFoundError as exc:
            # The object (or its namespace) went away meanwhile; its DELETED event follows.
            log.debug("%s %s: %s (gone; nothing to retry)", kind, _ident(body), exc)
            return
        except (_kube.KubeError, OSError, TimeoutError) as exc:
            if isinstance(exc, _kube.KubeError) and exc.status in (400, 403, 422):
                log.error("%s %s: %s (not retried)", kind, _ident(body), exc)
                _health.ERRORS.labels(kind).inc()
                return
            if delay is None:
                log.error("%s %s: %s (gave up; the next event retries)", kind, _ident(body), exc)
                _health.ERRORS.labels(kind).inc()
                return
            log.info("%s %s: %s; retrying in %ss", kind, _ident(body), exc, delay)
            await asyncio.sleep(delay)
            body = await _refetch(ctx, watched, body) or body


async def _refetch(ctx: Context, watched: Watched, body: dict[str, Any]) -> dict[str, Any] | None:
    """The object as it is now, before a retry (our own kinds; Pods and Jobs retry as seen)."""
    if watched.api != names.GROUP_VERSION:
        return None
    meta = body.get("metadata") or {}
    try:
        return await ctx.kube.get(f"{watched.path(meta.get('namespace'))}/{meta.get('name')}")
    except _kube.KubeError:
        return None


def _ident(body: dict[str, Any]) -> str:
    meta = body.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


@dataclass(frozen=True)
class Watched:
    """One watched kind: its collection, the reconciler, and a label selector."""

    kind: str
    api: str  # "v1" for the core group, else "group/version"
    plural: str
    handler: Handler
    labels: str = ""

    def path(self, namespace: str | None) -> str:
        """The collection path, in one namespace or across all of them."""
        return _kube.collection(self.api, self.plural, namespace)


AGENT = f"{names.LABEL_ROLE}={names.ROLE_AGENT}"


async def _on_run(ctx: Context, body: dict[str, Any], event_type: str | None) -> None:
    """An AgentRun event: index it for its schedule (if any), then reconcile it."""
    ctx.schedules.observe(body, event_type)
    await _agentrun.reconcile(ctx, body, event_type)


RUNS = Watched("AgentRun", names.GROUP_VERSION, "agentruns", _on_run)
JOBS = Watched("Job", "batch/v1", "jobs", lambda c, b, _t: _pods.on_job(c, b), AGENT)
PODS = Watched("Pod", "v1", "pods", lambda c, b, _t: _pods.on_pod(c, b), AGENT)
SCHEDULES = Watched("ClawSchedule", names.GROUP_VERSION, "clawschedules", _schedule.reconcile)
KINDS = (
    Watched("ClawInstance", names.GROUP_VERSION, "clawinstances", _instance.reconcile),
    Watched("ClawPolicy", names.GROUP_VERSION, "clawpolicies", _clawpolicy.reconcile),
    Watched("SkillPack", names.GROUP_VERSION, "skillpacks", _skills.reconcile),
    RUNS,
    JOBS,
    PODS,
    SCHEDULES,
)
"""Every watched kind. No handler runs before all are listed (client-go's "wait for
cache sync"); then the listed objects are handled in this order, so on a restart with
thousands of finished runs each run is known before its Pod or Job is looked at, and
its Job's existence is read from the Job watch instead of a GET per run."""


class Informers:
    """One `Informer` and one list-watch task per watched kind and namespace."""

    def __init__(self, ctx: Context, kube: _kube.Kube, namespaces: Sequence[str]) -> None:
        self.by_path: dict[str, Informer] = {}
        self.watches: list[asyncio.Task[None]] = []
        self.handling = asyncio.Event()
        scopes: Sequence[str | None] = namespaces or [None]
        for kind in KINDS:
            for namespace in scopes:
                path = kind.path(namespace)
                handler = functools.partial(_guarded, ctx, kind)
                informer = self.by_path[path] = Informer(handler, self.handling)
                task = list_watch(kube, path, informer, kind.labels)
                self.watches.append(asyncio.create_task(task, name=f"watch {path}"))

    def _find(self, kind: Watched, namespace: str) -> Informer | None:
        return self.by_path.get(kind.path(namespace)) or self.by_path.get(kind.path(None))

    def job_exists(self, namespace: str, name: str) -> bool | None:
        """Whether the agent Job exists, per the Job watch (None: not listed yet)."""
        informer = self._find(JOBS, namespace)
        return informer.knows((namespace, name)) if informer else None

    async def synced(self) -> None:
        """Return once every collection has been listed once."""
        for informer in self.by_path.values():
            await informer.synced.wait()

    def requeue(self, body: dict[str, Any], kind: Watched = RUNS) -> None:
        """Reconcile one object (an AgentRun unless told) again, in order with its events."""
        informer = self._find(kind, str((body.get("metadata") or {}).get("namespace")))
        if informer is not None:
            informer.changed("MODIFIED", body)

    async def stop(self) -> None:
        """Cancel the watches, then the reconciles still in flight."""
        tasks = [*self.watches, *(t for i in self.by_path.values() for t in i.tasks)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run(
    settings: _settings.Settings,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    clock: Clock | None = None,
) -> None:
    """Run the manager until `stop` is set (SIGINT/SIGTERM when not given); schedules
    read `clock` (the wall clock unless a test gives a virtual one)."""
    config = _kube.load_configuration(settings.kubeconfig)
    kube = _kube.Kube.connect(config)
    watch_kube = _kube.Kube.connect(config, limit=0)  # long-lived watches never starve writes
    ctx = Context(kube=kube, settings=settings, state=State(), clock=clock or SystemClock())
    ready = ready or asyncio.Event()
    stop = stop or _signal_stop()
    runner = None
    _buswatch.prepare(ctx)
    if settings.metrics_port:
        runner = await _health.serve(
            settings.metrics_host, settings.metrics_port, ready, lambda: _readiness(ctx)
        )
    informers = Informers(ctx, watch_kube, settings.namespaces)
    ctx.requeue = lambda namespace, name: _requeue(ctx, informers, namespace, name)
    ctx.job_exists = informers.job_exists
    ctx.requeue_schedule = lambda body: informers.requeue(body, SCHEDULES)
    if ctx.bus_seed is not None:
        ctx.state.spawn(_buswatch.consume(ctx, settings.event_bus_url, ctx.bus_seed))
    try:
        await _until(informers.synced(), stop)
        if not stop.is_set():
            informers.handling.set()
            ctx.state.spawn(ctx.ticker.run(lambda key: ctx.state.spawn(_tick(ctx, key))))
            ready.set()
            await stop.wait()
        await ctx.recorder.flush(EVENT_FLUSH_SECONDS)
    finally:
        await _cancel_background(ctx)
        await informers.stop()
        await kube.close()
        await watch_kube.close()
        if runner is not None:
            await runner.cleanup()


API_CHECK_TIMEOUT = 5.0


async def _readiness(ctx: Context) -> str | None:
    """Why the manager cannot do its work right now: bus, then API server; None if fine."""
    if problem := ctx.bus_state.not_ready():
        return problem
    try:
        await asyncio.wait_for(ctx.kube.get("/version"), API_CHECK_TIMEOUT)
    except (_kube.KubeError, OSError, TimeoutError) as exc:
        return f"cannot reach the Kubernetes API server: {exc or type(exc).__name__}"
    return None


async def _until(work: Awaitable[None], stop: asyncio.Event) -> None:
    """Await `work` unless `stop` is set first."""
    task, stopped = asyncio.ensure_future(work), asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopped):
        pending.cancel()


async def _requeue(ctx: Context, informers: Informers, namespace: str, name: str) -> None:
    """Reconcile one AgentRun now (a queued run whose instance freed a slot)."""
    try:
        body = await ctx.kube.get(_kube.claw(namespace, "agentruns", name))
    except _kube.KubeError:
        return
    informers.requeue(body)


async def _tick(ctx: Context, key: Key) -> None:
    """A schedule's next tick is due: reconcile it (as last seen; read live if unknown)."""
    if (body := ctx.ticker.latest.get(key)) is not None:
        ctx.requeue_schedule(body)
        return
    try:
        body = await ctx.kube.get(_kube.claw(key[0], "clawschedules", key[1]))
    except (_kube.KubeError, OSError, TimeoutError) as exc:
        log.warning("schedule %s/%s due but unreadable (%s); retrying", *key, exc)
        ctx.ticker.set(key, ctx.clock.now() + RETRY_TICK)
        return
    ctx.requeue_schedule(body)


async def _cancel_background(ctx: Context) -> None:
    for handle in ctx.state.deadlines.values():
        handle.cancel()
    ctx.state.deadlines.clear()
    tasks = list(ctx.state.tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _signal_stop() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
