"""One tick of a ClawSchedule: deadline, concurrency policy, history, then the run itself.

What the scheduler learned from upstream (reference §15), and how it is kept here:

* Ghost runs (AlreadyExists swallowed, a run reported that never happened): a run is
  named after its tick, and a 409 counts as "done" only when the existing run is owned by
  this schedule (uid); anyone else's object of that name is a `NameCollision`, reported
  and never claimed in the status.
* Forbid raced on `lastRunName`: the active runs come from an index of the AgentRun watch
  keyed by owner uid (`_schedindex`; a label anyone could set is not proof), to which a
  run created here is added at once.
* Orphans: every run carries an owner reference to its schedule (controller, blocking
  deletion), so deleting the schedule deletes its runs.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.manager._context import Context, timestamp
from k8sclaw_protocol import (
    TERMINAL_PHASES,
    ClawInstance,
    ClawSchedule,
    build_scheduled_run,
    run_name,
)

log = logging.getLogger("k8sclaw.controller.schedule")
Body = dict[str, Any]
TICK_PROBLEMS = ("InstanceNotFound", "NameCollision")
"""Ready=False reasons a tick leaves behind; the next tick that runs clears them."""


@dataclass
class Fired:
    """What one tick did: status fields to merge, and a problem for the Ready condition."""

    status: Body = field(default_factory=dict)
    problem: tuple[str, str] | None = None
    tick: datetime | None = None
    """The tick handled, once handled (set by the reconciler)."""


async def fire(ctx: Context, schedule: ClawSchedule, body: Body, tick: datetime) -> Fired:
    """Handle `tick` once: skip it, or create (or adopt) its run."""
    now = ctx.clock.now()
    handled = {"lastTickTime": timestamp(tick)}
    deadline = schedule.spec.starting_deadline_seconds
    late = int((now - tick).total_seconds())
    if deadline is not None and late > deadline:
        message = f"tick {timestamp(tick)} is {late}s late (startingDeadlineSeconds={deadline})"
        ctx.event(body, "MissedSchedule", f"{message}; skipped", warning=True)
        return Fired(handled)
    name = run_name(schedule.name, tick)
    ours = await owned_runs(ctx, schedule)
    if any(_name(run) == name for run in ours):
        return _recorded(schedule, tick, name, now)  # created before a restart: adopt it
    await prune_history(ctx, schedule, ours)
    active = await _confirmed_active(ctx, schedule.namespace, [r for r in ours if _active(r)])
    if active and schedule.spec.concurrency_policy == "Forbid":
        running = ", ".join(sorted(_name(run) for run in active))
        ctx.event(body, "Skipped", f"tick {timestamp(tick)} skipped: {running} still active")
        return Fired(handled)
    if active and schedule.spec.concurrency_policy == "Replace":
        await _delete_runs(ctx, schedule.namespace, active)
        ctx.event(body, "Replaced", f"deleted {', '.join(_name(r) for r in active)}")
    return await _create(ctx, schedule, body, tick, name)


async def _confirmed_active(ctx: Context, namespace: str, runs: list[Body]) -> list[Body]:
    """The runs the index calls active that the cluster still calls active.

    The index lags the cluster by the watch's delay: a run that finished just before the
    tick would otherwise make Forbid skip it (or Replace delete a finished run). One GET
    per active run, only at ticks that find one, which are the rare ones."""
    fresh = []
    for run in runs:
        try:
            current = await ctx.kube.get(_kube.claw(namespace, "agentruns", _name(run)))
        except _kube.NotFoundError:
            continue
        if _active(current):
            fresh.append(current)
    return fresh


async def owned_runs(ctx: Context, schedule: ClawSchedule) -> list[Body]:
    """The schedule's runs: owned by its uid (from the watch-fed index)."""
    return await ctx.schedules.of(ctx.kube, schedule.namespace, schedule.metadata.uid or "")


async def _create(
    ctx: Context, schedule: ClawSchedule, body: Body, tick: datetime, name: str
) -> Fired:
    instance = await _instance(ctx, schedule)
    handled = {"lastTickTime": timestamp(tick)}
    if instance is None:
        message = f"ClawInstance {schedule.spec.instance_ref!r} not found; tick skipped"
        ctx.event(body, "InstanceNotFound", message, warning=True)
        return Fired(handled, ("InstanceNotFound", message))
    _check_delivery(ctx, schedule, body, instance)
    run = build_scheduled_run(schedule, instance, tick).to_wire()
    try:
        await ctx.kube.create(_kube.claw(schedule.namespace, "agentruns"), run, read=False)
    except _kube.ConflictError:
        existing = await ctx.kube.get(_kube.claw(schedule.namespace, "agentruns", name))
        if not _owned_by(existing, schedule.metadata.uid or ""):
            message = f"AgentRun {name} exists and is not this schedule's; tick skipped"
            ctx.event(body, "NameCollision", message, warning=True)
            return Fired(handled, ("NameCollision", message))
        log.info("run %s/%s already exists; adopting it", schedule.namespace, name)
    else:
        ctx.schedules.created(schedule.namespace, schedule.metadata.uid or "", run)
        ctx.event(body, "RunCreated", f"created AgentRun {name} for {timestamp(tick)}")
    return _recorded(schedule, tick, name, ctx.clock.now())


def _check_delivery(
    ctx: Context, schedule: ClawSchedule, body: Body, instance: ClawInstance
) -> None:
    """Warn about a `deliverTo` that cannot work (the CRD's CEL rule refuses the first on
    API servers that evaluate it; the run is created either way)."""
    target = schedule.spec.deliver_to
    if target is None:
        return
    if schedule.spec.type != "heartbeat":
        message = f"deliverTo is only for type heartbeat (type is {schedule.spec.type}); ignored"
        ctx.event(body, "DeliverToIgnored", message, warning=True)
    elif target.channel not in {c.type for c in instance.spec.channels}:
        message = (
            f"deliverTo names channel {target.channel!r}, which ClawInstance "
            f"{instance.name!r} does not have; the result waits until it does"
        )
        ctx.event(body, "DeliveryChannelMissing", message, warning=True)


def _recorded(schedule: ClawSchedule, tick: datetime, name: str, now: datetime) -> Fired:
    status = schedule.status
    total = status.total_runs if status else 0
    counted = status is not None and status.last_run_name == name
    return Fired(
        {
            "lastTickTime": timestamp(tick),
            "lastScheduleTime": timestamp(tick),
            "lastRunTime": timestamp(now),
            "lastRunName": name,
            "totalRuns": total if counted else total + 1,
        }
    )


async def _instance(ctx: Context, schedule: ClawSchedule) -> ClawInstance | None:
    key = (schedule.namespace, schedule.spec.instance_ref)
    body = ctx.state.instances.get(key)
    if body is None:
        try:
            body = await ctx.kube.get(_kube.claw(*key[:1], "clawinstances", key[1]))
        except _kube.NotFoundError:
            return None
    return ClawInstance.from_wire(body)


async def prune_history(ctx: Context, schedule: ClawSchedule, runs: list[Body]) -> None:
    """Delete the oldest finished runs beyond the schedule's history limits."""
    spec = schedule.spec
    for phase, keep in (
        ("Succeeded", spec.successful_runs_history_limit),
        ("Failed", spec.failed_runs_history_limit),
    ):
        done = sorted((r for r in runs if _phase(r) == phase and not _deleting(r)), key=_finished)
        await _delete_runs(ctx, schedule.namespace, done[: max(len(done) - keep, 0)])


async def _delete_runs(ctx: Context, namespace: str, runs: list[Body]) -> None:
    for run in runs:
        with contextlib.suppress(_kube.NotFoundError):
            await ctx.kube.delete(_kube.claw(namespace, "agentruns", _name(run)))


def _owned_by(run: Body, uid: str) -> bool:
    refs = (run.get("metadata") or {}).get("ownerReferences") or []
    return bool(uid) and any(ref.get("uid") == uid for ref in refs)


def _name(run: Body) -> str:
    return str((run.get("metadata") or {}).get("name") or "")


def _phase(run: Body) -> str:
    return str((run.get("status") or {}).get("phase") or "Pending")


def _deleting(run: Body) -> bool:
    return bool((run.get("metadata") or {}).get("deletionTimestamp"))


def _active(run: Body) -> bool:
    return _phase(run) not in TERMINAL_PHASES and not _deleting(run)


def _finished(run: Body) -> tuple[str, str]:
    status = run.get("status") or {}
    created = str((run.get("metadata") or {}).get("creationTimestamp") or "")
    return (str(status.get("completedAt") or created), _name(run))
