"""SkillPack rows: NAME SKILLS PHASE CONFIGMAP AGE (+ NAMES wide)."""

from __future__ import annotations

from datetime import datetime

from k8sclaw.render import _base, _columns
from k8sclaw_protocol import SkillPack

COLUMNS = _columns.SKILL_PACK


def render(obj: SkillPack, now: datetime) -> _base.Row:
    """Cells of one skill pack; SKILLS counts the spec (status may lag behind)."""
    status = obj.status
    return (
        obj.name,
        str(len(obj.spec.skills)),
        _base.text(status.phase if status else "Pending"),
        _base.text(status.config_map_name if status else None),
        _base.text(",".join(s.name for s in obj.spec.skills)),
        _base.age(obj.metadata.creation_timestamp, now),
    )


RENDERER = _base.KindRenderer(SkillPack, COLUMNS, render)
