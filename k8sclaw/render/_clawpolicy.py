"""ClawPolicy rows: NAME BOUND TOOLS FEATURES AGE (+ SANDBOX DEPTH wide)."""

from __future__ import annotations

from datetime import datetime

from k8sclaw.render import _base, _columns
from k8sclaw_protocol import ClawPolicy

COLUMNS = _columns.CLAW_POLICY


def render(obj: ClawPolicy, now: datetime) -> _base.Row:
    """Cells of one policy; FEATURES lists the enabled feature gates."""
    spec = obj.spec
    enabled = sorted(name for name, on in spec.feature_gates.items() if on)
    gating = spec.tool_gating
    tools = f"{gating.default_action} +{len(gating.rules)} rules" if gating else _base.NONE
    sandbox = spec.sandbox_policy
    return (
        obj.name,
        str(obj.status.bound_instances if obj.status else 0),
        tools,
        _base.text(",".join(enabled)),
        ("required" if sandbox.required else "optional") if sandbox else _base.NONE,
        str(spec.subagent_policy.max_depth) if spec.subagent_policy else _base.NONE,
        _base.age(obj.metadata.creation_timestamp, now),
    )


RENDERER = _base.KindRenderer(ClawPolicy, COLUMNS, render)
