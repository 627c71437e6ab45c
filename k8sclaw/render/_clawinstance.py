"""ClawInstance rows: NAME PHASE CHANNELS PODS RUNS SPENT AGE (+ MODEL PROVIDER POLICY wide)."""

from __future__ import annotations

from datetime import datetime

from k8sclaw.render import _base, _columns
from k8sclaw_protocol import ClawInstance, instance_provider

COLUMNS = _columns.CLAW_INSTANCE


def render(obj: ClawInstance, now: datetime) -> _base.Row:
    """Cells of one instance; CHANNELS lists the configured channel types."""
    status = obj.status
    channels = ",".join(ch.type for ch in obj.spec.channels)
    return (
        obj.name,
        _base.text(status.phase if status else "Pending"),
        _base.text(channels),
        str(status.active_agent_pods if status else 0),
        str(status.total_agent_runs if status else 0),
        _base.spent_today(status.spend.to_wire() if status and status.spend else None, now),
        _base.text(obj.spec.agents.default.model),
        instance_provider(obj),
        _base.text(obj.spec.policy_ref),
        _base.age(obj.metadata.creation_timestamp, now),
    )


RENDERER = _base.KindRenderer(ClawInstance, COLUMNS, render)
