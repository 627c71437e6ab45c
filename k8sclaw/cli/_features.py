"""`k8sclaw features enable|disable|list --policy P`: a ClawPolicy's feature gates.

Changes are merge patches of `spec.featureGates.<gate>` (never a full update that could
race with the controller writing status).
"""

from __future__ import annotations

import click

from k8sclaw.cli import _common, _output
from k8sclaw.cli._lazy import SuggestingGroup
from k8sclaw_protocol import FEATURE_GATES, ClawPolicy, names
from k8sclaw_protocol._toolpolicy import gate_enabled

# What each gate enables and the tools it adds (protocol's GATE_TOOLS, which tests/cli
# check this against).
GATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "code-execution": ("run commands in the sandbox", (names.TOOL_EXECUTE_COMMAND,)),
    "sub-agents": ("start sub-agent runs", (names.TOOL_SPAWN_SUBAGENT,)),
    "browser-automation": ("drive a headless browser", (f"{names.TOOL_BROWSER_PREFIX}*",)),
    "file-access": (
        "read and write workspace files",
        (names.TOOL_READ_FILE, names.TOOL_WRITE_FILE, names.TOOL_LIST_DIRECTORY),
    ),
    "network-access": (
        "fetch URLs (sandbox egress only when explicitly true)",
        (names.TOOL_FETCH_URL,),
    ),
    "cross-chat-messages": (
        "let send_channel_message reach other chats of the instance (opt-in: off unless true)",
        (),
    ),
}

_policy_option = click.option(
    "--policy", required=True, metavar="NAME", help="ClawPolicy to change."
)
_gate_argument = click.argument(
    "feature", metavar="FEATURE", type=_common.SuggestingChoice(FEATURE_GATES)
)


@click.group("features", cls=SuggestingGroup)
def features() -> None:
    """Feature gates of a ClawPolicy (code-execution, sub-agents, ...)."""


def _set(target: _common.Target, policy: str, feature: str, value: bool) -> None:
    kube = target.kube()
    current = kube.get(ClawPolicy, policy, target.ns())  # NotFound with a hint before patching
    gates = current.spec.feature_gates
    if gate_enabled(current, feature) is value:  # absent counts as on (docs/policy.md)
        default = "" if feature in gates else " (the default)"
        state = "enabled" if value else "disabled"
        click.echo(f'Feature "{feature}" already {state} on policy {policy}{default}')
        return
    kube.patch(ClawPolicy, policy, target.ns(), {"spec": {"featureGates": {feature: value}}})
    click.echo(f'Feature "{feature}" {"enabled" if value else "disabled"} on policy {policy}')


@features.command("enable")
@_gate_argument
@_policy_option
@_common.cluster_options()
@_common.translating
def enable(feature: str, policy: str, target: _common.Target) -> None:
    """Turn FEATURE on in the policy."""
    _set(target, policy, feature, True)


@features.command("disable")
@_gate_argument
@_policy_option
@_common.cluster_options()
@_common.translating
def disable(feature: str, policy: str, target: _common.Target) -> None:
    """Turn FEATURE off in the policy."""
    _set(target, policy, feature, False)


@features.command("list")
@_policy_option
@_common.cluster_options()
@_common.translating
def list_(policy: str, target: _common.Target) -> None:
    """Every known feature gate: whether the policy enables it, what it enables and the
    tools it adds (a tool the policy gates `ask` shows as needing approval)."""
    found = target.kube().get(ClawPolicy, policy, target.ns())
    gates = found.spec.feature_gates
    rows = []
    for gate in FEATURE_GATES:
        what, tools = GATES[gate]
        shown = ", ".join(_tool_shown(found, tool) for tool in tools)
        enabled = str(gate_enabled(found, gate)).lower()
        rows.append((gate, enabled, "set" if gate in gates else "default", what, shown))
    header = ("FEATURE", "ENABLED", "SOURCE", "ENABLES", "TOOLS")
    click.echo(_output.plain_table(header, rows), nl=False)


def _tool_shown(policy: ClawPolicy, tool: str) -> str:
    """A gate's tool, marked when a rule (not the gate, which ENABLED shows) holds it back:
    `execute_command (needs approval)` for `ask`, `fetch_url (denied)` for `deny`."""
    from k8sclaw.render import tool_state

    shown, field = tool_state(policy, tool)
    if field.startswith("featureGates.") or shown == "allowed":
        return tool
    return f"{tool} ({shown})"
