"""Tool gating: which tools a policy allows, asks about or denies, and the effective
`toolPolicy` the mutating webhook writes into a run. Pure, so the webhook and
`k8sclaw run --local` judge a ClawPolicy the same way.

Semantics (documented for users in the ClawPolicy docs):
- A feature gate set to false denies its tools outright and wins over any rule:
  code-execution -> execute_command, sub-agents -> spawn_subagent, file-access ->
  read_file/write_file/list_directory, network-access -> fetch_url,
  browser-automation -> every `browser_*` tool. A gate that is absent is on.
- Otherwise a `toolGating.rules[]` entry for the tool decides, else `defaultAction`.
- `allow`: offered to every run of the policy.
- `ask`: offered like `allow` and listed in the run's `toolPolicy.ask`: the model sees
  the tool (so the system prompt never advertises a tool it cannot call), but every
  call pauses for a person's approval and a deny or timeout is reported to the model.
- `deny`: never offered; a run that lists it in `spec.toolPolicy.allow` is refused
  (not silently narrowed), so the caller learns which rule stopped it.
"""

from __future__ import annotations

from typing import Literal

from k8sclaw_protocol import _names as names
from k8sclaw_protocol._agentrun import ToolPolicy
from k8sclaw_protocol._policy import ClawPolicy

Action = Literal["allow", "deny", "ask"]

GATE_TOOLS: dict[str, tuple[str, ...]] = {
    "code-execution": (names.TOOL_EXECUTE_COMMAND,),
    "sub-agents": (names.TOOL_SPAWN_SUBAGENT,),
    "file-access": (names.TOOL_READ_FILE, names.TOOL_WRITE_FILE, names.TOOL_LIST_DIRECTORY),
    "network-access": (names.TOOL_FETCH_URL,),
    "browser-automation": (),
    "cross-chat-messages": (),  # widens send_channel_message; switches no tool off
}
"""Tools each feature gate switches off (browser tools are matched by prefix)."""


def gate_for_tool(tool: str) -> str | None:
    """The feature gate that governs `tool`, if any."""
    if tool.startswith(names.TOOL_BROWSER_PREFIX):
        return "browser-automation"
    for gate, tools in GATE_TOOLS.items():
        if tool in tools:
            return gate
    return None


OPT_IN_GATES: frozenset[str] = frozenset({"cross-chat-messages"})
"""Gates that are off unless the policy sets them to true (they widen what a run may do)."""


def gate_enabled(policy: ClawPolicy, gate: str) -> bool:
    """A gate is on unless the policy sets it to false; an opt-in gate only when set true."""
    return policy.spec.feature_gates.get(gate, gate not in OPT_IN_GATES)


def tool_action(policy: ClawPolicy, tool: str) -> tuple[Action, str]:
    """The policy's action for `tool` and the policy field that decided it."""
    gate = gate_for_tool(tool)
    if gate is not None and not gate_enabled(policy, gate):
        return "deny", f"featureGates.{gate}"
    gating = policy.spec.tool_gating
    if gating is None:
        return "allow", "toolGating.defaultAction"
    for rule in gating.rules:
        if rule.tool == tool:
            return rule.action, f"toolGating.rules[{tool}]"
    return gating.default_action, "toolGating.defaultAction"


def known_tools(policy: ClawPolicy, requested: ToolPolicy | None) -> list[str]:
    """Every tool name in play: the built-in tools, those named by rules or the run."""
    gating = policy.spec.tool_gating
    extra = [rule.tool for rule in gating.rules] if gating else []
    if requested is not None:
        extra += [*(requested.allow or []), *(requested.deny or [])]
    return sorted({*names.TOOLS, *extra})


def effective_tool_policy(policy: ClawPolicy, requested: ToolPolicy | None) -> ToolPolicy:
    """The run's allow list narrowed by the policy, its deny list widened by it, and
    its ask list: every offered tool the policy (or the run itself) gates `ask`.

    With no `allow` in the run, every tool the policy allows or asks about is offered;
    with one, the run's own list is kept minus what the policy denies.
    """
    tools = known_tools(policy, requested)
    actions = {tool: tool_action(policy, tool)[0] for tool in tools}
    if requested is None or requested.allow is None:
        allow = [tool for tool in tools if actions[tool] != "deny"]
    else:
        allow = [tool for tool in requested.allow if actions.get(tool) != "deny"]
    denied = {tool for tool in tools if actions[tool] == "deny"}
    deny = sorted(denied | set(requested.deny or [] if requested else []))
    offered = [tool for tool in allow if tool not in deny]
    asked = {tool for tool in tools if actions[tool] == "ask"}
    asked |= set(requested.ask or [] if requested else [])
    ask = sorted(tool for tool in offered if tool in asked)
    gating = policy.spec.tool_gating
    timeout = gating.approval_timeout_seconds if gating else None
    if requested is not None and requested.approval_timeout_seconds is not None:
        timeout = requested.approval_timeout_seconds
    return ToolPolicy(
        allow=offered, deny=deny, ask=ask or None, approval_timeout_seconds=timeout if ask else None
    )
