"""What a ClawPolicy does with each tool, in words: the one listing the CLI's
`policies describe`, the TUI's describe and `features list` share, so a tool gated `ask`
reads "needs approval" wherever tools are listed (never a bare "ask" or "allowed")."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the protocol (pydantic) is imported on first use: `render` stays light
    from k8sclaw_protocol import ClawPolicy

SHOWN = {"allow": "allowed", "deny": "denied", "ask": "needs approval"}
"""How each toolGating action is shown to a user."""


def tool_state(policy: ClawPolicy, tool: str) -> tuple[str, str]:
    """What the policy does with `tool` in words (allowed, denied, needs approval) and
    the field that decided, as the webhook judges it."""
    from k8sclaw_protocol._toolpolicy import tool_action

    action, field = tool_action(policy, tool)
    return SHOWN[action], field


def policy_tools(policy: ClawPolicy) -> list[tuple[str, str, str]]:
    """(tool, what the policy does with it, the field that decided) for every built-in
    tool and every tool a rule names (`browser_*`), in name order."""
    from k8sclaw_protocol import names

    gating = policy.spec.tool_gating
    named = {rule.tool for rule in gating.rules} if gating else set()
    return [(tool, *tool_state(policy, tool)) for tool in sorted({*names.TOOLS, *named})]


def tool_section(policy: ClawPolicy) -> list[str]:
    """The `Tools:` section of a policy's describe (kubectl-describe layout)."""
    from k8sclaw.render._terminal import terminal_safe

    rows = [(terminal_safe(t), shown, terminal_safe(why)) for t, shown, why in policy_tools(policy)]
    width = max(len(tool) for tool, _, _ in rows)
    return ["Tools:", *(f"  {t:<{width}}  {shown:<14}  ({why})" for t, shown, why in rows)]
