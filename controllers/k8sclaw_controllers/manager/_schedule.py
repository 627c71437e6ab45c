"""ClawSchedule reconciler: decide whether a tick is due, fire it once, keep the status true.

Called for every watch event of a schedule and when the ticker reports its next tick due.
The only tick ever fired is the LATEST one at or before now, and only if it is later than
everything already handled: `status.lastTickTime`, the schedule's creation (creation never
back-fires), and what this process handled (a stale watch event cannot fire a tick twice).
So after any downtime, however many ticks it spanned, at most one catch-up run is created
(and none if `startingDeadlineSeconds` says it is too late); a resumed schedule starts with
the next tick, not with the ones missed while it was suspended (reference §15: back-dated
first triggers fired bursts of catch-up runs).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from k8sclaw_controllers.manager import _schedrun
from k8sclaw_controllers.manager._context import Context, condition, timestamp
from k8sclaw_controllers.manager._schedrun import Fired
from k8sclaw_protocol import ClawSchedule, CronError, Timetable, timetable

Body = dict[str, Any]
_CONDITION_KEYS = ("type", "status", "reason", "message", "observedGeneration")


async def reconcile(ctx: Context, body: Body, event_type: str | None) -> None:
    """A schedule changed or a tick is due: fire what is due, write the status."""
    meta = body.get("metadata") or {}
    key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
    if event_type == "DELETED" or meta.get("deletionTimestamp"):
        ctx.ticker.drop(key)
        ctx.ticker.forget(key)
        return
    ctx.ticker.latest[key] = body
    schedule = ClawSchedule.from_wire(body)
    try:
        table = timetable(schedule.spec.schedule, schedule.spec.time_zone)
    except CronError as exc:
        ctx.ticker.drop(key)
        error = {"phase": "Error", "nextScheduleTime": None}
        await _write(ctx, body, error, ("InvalidSchedule", str(exc)))
        ctx.ticker.phases[_ident(schedule)] = "Error"
        return
    if schedule.spec.suspend:
        ctx.ticker.drop(key)
        if _phase(ctx, schedule, body) != "Suspended":
            ctx.event(body, "Suspended", "no runs are created until it is resumed")
        await _write(ctx, body, {"phase": "Suspended", "nextScheduleTime": None}, None)
        ctx.ticker.phases[_ident(schedule)] = "Suspended"
        return
    fired = await _due(ctx, schedule, body, table)
    upcoming = table.next_after(ctx.clock.now())
    if upcoming is None:
        ctx.ticker.drop(key)
    else:
        ctx.ticker.set(key, upcoming)
    fields = {"phase": "Active", "nextScheduleTime": timestamp(upcoming) if upcoming else None}
    problem = fired.problem if fired.status else _tick_problem(body)
    await _write(ctx, body, {**fields, **fired.status}, problem)
    ctx.ticker.phases[_ident(schedule)] = "Active"
    if fired.tick is not None:  # recorded: only now may this process treat it as done
        ctx.ticker.handled[_ident(schedule)] = fired.tick


async def _due(ctx: Context, schedule: ClawSchedule, body: Body, table: Timetable) -> Fired:
    """Fire the latest tick at or before now if nothing has handled it yet."""
    now = ctx.clock.now()
    tick = table.latest_at_or_before(now)
    if tick is None or tick <= _handled_through(ctx, schedule):
        return Fired()
    if _phase(ctx, schedule, body) == "Suspended":  # resumed: missed ticks never fire
        ctx.event(body, "Resumed", f"runs resume with the first tick after {timestamp(now)}")
        fired = Fired({"lastTickTime": timestamp(tick)})
    else:
        fired = await _schedrun.fire(ctx, schedule, body, tick)
    fired.tick = tick
    return fired


def _handled_through(ctx: Context, schedule: ClawSchedule) -> datetime:
    """The latest moment whose ticks are done with: nothing at or before it fires."""
    created = schedule.metadata.creation_timestamp
    candidates = [
        created,
        schedule.status.last_tick_time if schedule.status else None,
        ctx.ticker.handled.get(_ident(schedule)),
    ]
    present = [moment for moment in candidates if moment is not None]
    if not present:
        return ctx.clock.now()  # no creation time (never from a server): fire nothing old
    return max(present)


def _tick_problem(body: Body) -> tuple[str, str] | None:
    """The last tick's problem (no instance, a name taken), kept until the next tick."""
    for cond in (body.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("reason") in _schedrun.TICK_PROBLEMS:
            return str(cond["reason"]), str(cond.get("message") or "")
    return None


def _ident(schedule: ClawSchedule) -> tuple[str, str, str]:
    return (schedule.namespace, schedule.name, schedule.metadata.uid or "")


def _phase(ctx: Context, schedule: ClawSchedule, body: Body) -> str:
    """The phase last written: by this process if it has, else as the body says."""
    written = ctx.ticker.phases.get(_ident(schedule))
    return written or str((body.get("status") or {}).get("phase") or "")


async def _write(ctx: Context, body: Body, fields: Body, problem: tuple[str, str] | None) -> None:
    """Merge `fields` and the Ready condition into the status, if anything changed."""
    meta = body["metadata"]
    old: Body = body.get("status") or {}
    generation = meta.get("generation")
    ready = _ready(fields, problem, generation)
    previous = next((c for c in old.get("conditions") or [] if c.get("type") == "Ready"), None)
    if previous is not None and previous.get("status") == ready["status"]:
        ready["lastTransitionTime"] = previous.get("lastTransitionTime")
    status = {**fields, "observedGeneration": generation, "conditions": [ready]}
    if _same(old, status):
        return
    path = f"/apis/k8sclaw.io/v1alpha1/namespaces/{meta['namespace']}/clawschedules"
    await ctx.kube.patch(f"{path}/{meta['name']}/status", {"status": status}, read=False)


def _ready(fields: Body, problem: tuple[str, str] | None, generation: int | None) -> Body:
    if problem is not None:
        return condition("Ready", False, problem[0], problem[1], generation)
    if fields.get("phase") == "Suspended":
        return condition("Ready", False, "Suspended", "spec.suspend is true", generation)
    upcoming = fields.get("nextScheduleTime")
    message = f"next run at {upcoming}" if upcoming else "the schedule never matches again"
    return condition("Ready", True, "Scheduled", message, generation)


def _same(old: Body, new: Body) -> bool:
    for name, value in new.items():
        if name == "conditions":
            before = [{k: c.get(k) for k in _CONDITION_KEYS} for c in old.get(name) or []]
            if before != [{k: c.get(k) for k in _CONDITION_KEYS} for c in value]:
                return False
        elif old.get(name) != value:
            return False
    return True
