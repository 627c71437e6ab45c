"""ClawSchedule rows: NAME INSTANCE SCHEDULE SUSPEND PHASE LAST-RUN NEXT RUNS AGE (+ TASK)."""

from __future__ import annotations

from datetime import datetime

from k8sclaw.render import _base, _columns
from k8sclaw_protocol import ClawSchedule

COLUMNS = _columns.CLAW_SCHEDULE


def render(obj: ClawSchedule, now: datetime) -> _base.Row:
    """Cells of one schedule; LAST-RUN is the age of the last run it started, NEXT the
    time left to the next tick."""
    status = obj.status
    return (
        obj.name,
        obj.spec.instance_ref,
        obj.spec.schedule,
        str(obj.spec.suspend).lower(),
        _base.text(status.phase if status else None),
        _base.age(status.last_run_time if status else None, now),
        _base.until(status.next_schedule_time if status else None, now),
        str(status.total_runs if status else 0),
        _base.text(obj.spec.task),
        _base.age(obj.metadata.creation_timestamp, now),
    )


RENDERER = _base.KindRenderer(ClawSchedule, COLUMNS, render)
