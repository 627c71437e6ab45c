"""Tool gating: lives in `k8sclaw_protocol._toolpolicy` (pure, no I/O) so that the CLI's
local run (`k8sclaw run --local`) evaluates a ClawPolicy exactly as the webhook does."""

from k8sclaw_protocol._toolpolicy import (
    GATE_TOOLS,
    Action,
    effective_tool_policy,
    gate_enabled,
    gate_for_tool,
    known_tools,
    tool_action,
)

__all__ = [
    "GATE_TOOLS",
    "Action",
    "effective_tool_policy",
    "gate_enabled",
    "gate_for_tool",
    "known_tools",
    "tool_action",
]
