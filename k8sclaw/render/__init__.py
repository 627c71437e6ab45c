"""Pure renderers, one module per kind: declarative columns and `render(obj, now) -> Row`.

Shared by `k8sclaw <kind> list -o table|wide` and the TUI so the two never disagree.
`RENDERERS` maps each model class to its renderer; `WIRE_RENDERERS` maps each kind name
to the same columns rendered from the API's JSON (the CLI's fast read path). The model
renderers import pydantic, so they are loaded on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from k8sclaw.render._base import MASK, NONE, KindRenderer, Row, age, duration_ms, mask
from k8sclaw.render._columns import Column
from k8sclaw.render._terminal import terminal_safe
from k8sclaw.render._tools import policy_tools, tool_section, tool_state
from k8sclaw.render._wire import WIRE_RENDERERS, WireRenderer

if TYPE_CHECKING:
    from k8sclaw_protocol import Resource

    RENDERERS: dict[type[Resource], KindRenderer[Any]]


def renderer_for(kind: type[Resource]) -> KindRenderer[Any]:
    """The renderer of a kind (every K8sClaw kind has one)."""
    renderers: dict[type[Resource], KindRenderer[Any]] = __getattr__("RENDERERS")
    return renderers[kind]


def __getattr__(name: str) -> Any:
    """Build `RENDERERS` (importing the models) the first time it is asked for."""
    if name != "RENDERERS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from k8sclaw.render import (
        _agentrun,
        _clawinstance,
        _clawpolicy,
        _clawschedule,
        _skillpack,
    )

    renderers: dict[type[Resource], KindRenderer[Any]] = {
        r.kind: r
        for r in (
            _clawinstance.RENDERER,
            _agentrun.RENDERER,
            _clawpolicy.RENDERER,
            _skillpack.RENDERER,
            _clawschedule.RENDERER,
        )
    }
    globals()["RENDERERS"] = renderers
    return renderers


__all__ = [
    "Column",
    "KindRenderer",
    "MASK",
    "NONE",
    "RENDERERS",
    "Row",
    "WIRE_RENDERERS",
    "WireRenderer",
    "age",
    "duration_ms",
    "mask",
    "policy_tools",
    "renderer_for",
    "terminal_safe",
    "tool_section",
    "tool_state",
]
