"""Pure renderers, one module per kind: declarative columns and `render(obj, now) -> Row`.

Shared by `k8sclaw <kind> list -o table|wide` and the TUI so the two never disagree.
`RENDERERS` maps each model class to its renderer.
"""

from typing import Any

from k8sclaw.render import _agentrun, _clawinstance, _clawpolicy, _clawschedule, _skillpack
from k8sclaw.render._base import MASK, NONE, Column, KindRenderer, Row, age, duration_ms, mask
from k8sclaw_protocol import Resource

RENDERERS: dict[type[Resource], KindRenderer[Any]] = {
    r.kind: r
    for r in (
        _clawinstance.RENDERER,
        _agentrun.RENDERER,
        _clawpolicy.RENDERER,
        _skillpack.RENDERER,
        _clawschedule.RENDERER,
    )
}


def renderer_for(kind: type[Resource]) -> KindRenderer[Any]:
    """The renderer of a kind (every K8sClaw kind has one)."""
    return RENDERERS[kind]


__all__ = [
    "Column",
    "KindRenderer",
    "MASK",
    "NONE",
    "RENDERERS",
    "Row",
    "age",
    "duration_ms",
    "mask",
    "renderer_for",
]
