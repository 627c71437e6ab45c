"""`k8sclaw policies list|get|describe`: ClawPolicies governing instances."""

from __future__ import annotations

import click

from k8sclaw.cli import _common, _resources

policies = _resources.group("policies", "ClawPolicy", verbs=("list", "get"))


@policies.command("describe")
@click.argument("name")
@_common.cluster_options()
@_common.translating
def describe(name: str, target: _common.Target) -> None:
    """What a ClawPolicy does with each tool (allowed, denied, needs approval) and its
    feature gates, each with the field that decides it (as the webhook judges runs)."""
    from k8sclaw.render import tool_section
    from k8sclaw_protocol import FEATURE_GATES, ClawPolicy
    from k8sclaw_protocol._toolpolicy import gate_enabled

    policy = target.kube().get(ClawPolicy, name, target.ns())
    gates = policy.spec.feature_gates
    lines = [
        f"Name:         {policy.name}",
        f"Namespace:    {policy.namespace}",
        f"Bound:        {policy.status.bound_instances if policy.status else 0} instance(s)",
        "Feature gates:",
        *(
            f"  {gate:<20} {'on' if gate_enabled(policy, gate) else 'off'}"
            + ("" if gate in gates else " (default)")
            for gate in FEATURE_GATES
        ),
        *tool_section(policy),
    ]
    click.echo("\n".join(lines))
