"""`k8sclaw features enable|disable|list --policy P`: a ClawPolicy's feature gates.

Changes are merge patches of `spec.featureGates.<gate>` (never a full update that could
race with the controller writing status).
"""

from __future__ import annotations

import click

from k8sclaw.cli import _common, _output
from k8sclaw.cli._lazy import SuggestingGroup
from k8sclaw_protocol import FEATURE_GATES, ClawPolicy

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
    if gates.get(feature, False) is value:
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
    """Every known feature gate and whether the policy enables it."""
    gates = target.kube().get(ClawPolicy, policy, target.ns()).spec.feature_gates
    rows = [
        (g, str(gates.get(g, False)).lower(), "set" if g in gates else "default")
        for g in FEATURE_GATES
    ]
    click.echo(_output.plain_table(("FEATURE", "ENABLED", "SOURCE"), rows), nl=False)
