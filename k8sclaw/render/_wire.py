"""Renderers on wire dicts: the same cells as the model renderers, without pydantic.

The CLI's fast read path lists 1,000 runs without building 1,000 models; these
functions read the JSON the API server sent and apply the models' defaults where a
field is absent. `tests/cli/test_render_wire.py` checks every kind against its model
renderer (same headers, same cells), so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from k8sclaw.render import _base, _columns
from k8sclaw.render._columns import Column

Wire = dict[str, Any]
LABEL_COMPONENT = "k8sclaw.io/component"  # = k8sclaw_protocol.names.LABEL_COMPONENT (tested)


@dataclass(frozen=True)
class WireRenderer(_base.TableRenderer[Wire]):
    """Columns of one kind and the function that fills them from a wire object."""

    kind: str
    columns: tuple[Column, ...]
    render: Callable[[Wire, datetime], _base.Row]


def _meta(obj: Wire) -> Wire:
    return obj.get("metadata") or {}


def _age(obj: Wire, now: datetime) -> str:
    return _base.age(_base.parse_time(_meta(obj).get("creationTimestamp")), now)


def agent_run(obj: Wire, now: datetime) -> _base.Row:
    """Cells of one AgentRun (see `_agentrun.render`)."""
    spec, status = obj.get("spec") or {}, obj.get("status")
    usage = status.get("tokenUsage") if status is not None else None
    model = spec.get("model") or {}
    return (
        _meta(obj).get("name") or "",
        spec.get("instanceRef") or "",
        (status or {}).get("phase") or "Pending",
        _base.text((status or {}).get("podName")),
        str(usage.get("totalTokens", 0)) if usage is not None else _base.NONE,
        _base.duration_ms(usage.get("durationMs", 0) if usage is not None else None),
        "/".join(str(part) for part in (model.get("provider"), model.get("model")) if part),
        _base.text((_meta(obj).get("labels") or {}).get(LABEL_COMPONENT)),
        _base.clip(_base.text(spec.get("task")), _base.TASK_WIDTH),
        _age(obj, now),
    )


def claw_instance(obj: Wire, now: datetime) -> _base.Row:
    """Cells of one ClawInstance (see `_clawinstance.render`)."""
    spec, status = obj.get("spec") or {}, obj.get("status")
    default = (spec.get("agents") or {}).get("default") or {}
    return (
        _meta(obj).get("name") or "",
        _base.text(status.get("phase") if status is not None else "Pending"),
        _base.text(",".join(ch.get("type", "") for ch in spec.get("channels") or [])),
        str((status or {}).get("activeAgentPods", 0)),
        str((status or {}).get("totalAgentRuns", 0)),
        _base.spent_today((status or {}).get("spend"), now),
        _base.text(default.get("model")),
        _provider(spec, default),
        _base.text(spec.get("policyRef")),
        _age(obj, now),
    )


def _provider(spec: Wire, default: Wire) -> str:
    """`k8sclaw_protocol.instance_provider` on the wire form."""
    if default.get("provider"):
        return str(default["provider"])
    for ref in spec.get("authRefs") or []:
        if ref.get("provider"):
            return str(ref["provider"])
    return "openai"


def claw_policy(obj: Wire, now: datetime) -> _base.Row:
    """Cells of one ClawPolicy (see `_clawpolicy.render`)."""
    spec, status = obj.get("spec") or {}, obj.get("status")
    enabled = sorted(name for name, on in (spec.get("featureGates") or {}).items() if on)
    gating = spec.get("toolGating")
    tools = (
        f"{gating.get('defaultAction', 'allow')} +{len(gating.get('rules') or [])} rules"
        if gating is not None
        else _base.NONE
    )
    sandbox, subagents = spec.get("sandboxPolicy"), spec.get("subagentPolicy")
    return (
        _meta(obj).get("name") or "",
        str((status or {}).get("boundInstances", 0)),
        tools,
        _base.text(",".join(enabled)),
        ("required" if sandbox.get("required") else "optional")
        if sandbox is not None
        else _base.NONE,
        str(subagents.get("maxDepth", 3)) if subagents is not None else _base.NONE,
        _age(obj, now),
    )


def skill_pack(obj: Wire, now: datetime) -> _base.Row:
    """Cells of one SkillPack (see `_skillpack.render`)."""
    spec, status = obj.get("spec") or {}, obj.get("status")
    skills = spec.get("skills") or []
    return (
        _meta(obj).get("name") or "",
        str(len(skills)),
        _base.text(status.get("phase") if status is not None else "Pending"),
        _base.text((status or {}).get("configMapName")),
        _base.text(",".join(s.get("name", "") for s in skills)),
        _age(obj, now),
    )


def claw_schedule(obj: Wire, now: datetime) -> _base.Row:
    """Cells of one ClawSchedule (see `_clawschedule.render`)."""
    spec, status = obj.get("spec") or {}, obj.get("status")
    return (
        _meta(obj).get("name") or "",
        spec.get("instanceRef") or "",
        spec.get("schedule") or "",
        str(bool(spec.get("suspend", False))).lower(),
        _base.text((status or {}).get("phase")),
        _base.age(_base.parse_time((status or {}).get("lastRunTime")), now),
        _base.until(_base.parse_time((status or {}).get("nextScheduleTime")), now),
        str((status or {}).get("totalRuns", 0)),
        _base.text(spec.get("task")),
        _age(obj, now),
    )


WIRE_RENDERERS: dict[str, WireRenderer] = {
    r.kind: r
    for r in (
        WireRenderer("ClawInstance", _columns.CLAW_INSTANCE, claw_instance),
        WireRenderer("AgentRun", _columns.AGENT_RUN, agent_run),
        WireRenderer("ClawPolicy", _columns.CLAW_POLICY, claw_policy),
        WireRenderer("SkillPack", _columns.SKILL_PACK, skill_pack),
        WireRenderer("ClawSchedule", _columns.CLAW_SCHEDULE, claw_schedule),
    )
}
