"""AgentRun rows: NAME INSTANCE PHASE POD TOKENS DURATION AGE (+ MODEL SOURCE TASK wide)."""

from __future__ import annotations

from datetime import datetime

from k8sclaw.render import _base, _columns
from k8sclaw_protocol import AgentRun, names

COLUMNS = _columns.AGENT_RUN


def render(obj: AgentRun, now: datetime) -> _base.Row:
    """Cells of one run; an unset phase shows as Pending (the run was just created)."""
    status = obj.status
    usage = status.token_usage if status else None
    return (
        obj.name,
        obj.spec.instance_ref,
        (status.phase if status else None) or "Pending",
        _base.text(status.pod_name if status else None),
        str(usage.total_tokens) if usage else _base.NONE,
        _base.duration_ms(usage.duration_ms if usage else None),
        "/".join(filter(None, (obj.spec.model.provider, obj.spec.model.model))),
        _base.text(obj.metadata.labels.get(names.LABEL_COMPONENT)),
        _base.clip(_base.text(obj.spec.task), _base.TASK_WIDTH),
        _base.age(obj.metadata.creation_timestamp, now),
    )


RENDERER = _base.KindRenderer(AgentRun, COLUMNS, render)
