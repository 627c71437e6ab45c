"""NetworkPolicies for the agent pods of one namespace, generated from a ClawPolicy.

The controller calls `network_policies(namespace, policy, instance=...)` when a run
lands in a namespace and applies the result. Upstream shipped static policies in the
system namespace that selected nothing; these select the pods the controller really
builds (labels `k8sclaw.io/role=agent` and `k8sclaw.io/instance`, see
`manager.pod_labels`) in the run's own namespace.

- Agent pods: no ingress; egress to DNS (53 UDP/TCP), to NATS (pods
  `app.kubernetes.io/name=nats` in k8sclaw-system, TCP 4222) and to the policy's
  `allowedEgress` CIDRs (a bare IP becomes /32 or /128; broad blocks exclude the cloud
  metadata address 169.254.169.254).
- Pods with a sandbox (`k8sclaw.io/sandbox=true`): no ingress; DNS and NATS only. The
  sandbox is a container of the agent pod (SPEC §4): it shares the pod's network
  namespace with the agent and the IPC bridge, and a NetworkPolicy selects pods, never
  containers, so "sandbox: DNS only" cannot be enforced apart from the bridge's NATS
  connection; NATS is the one exception. `allowedEgress` is granted to a sandbox pod
  only when the policy sets `featureGates.network-access: true` explicitly (the agent's
  `fetch_url` in that pod needs it, and the sandbox then shares it); absent or false,
  a pod that runs commands reaches nothing but DNS and NATS. This decision is enforced
  here and asserted against the pod the controller's Job builder really produces.
- A hostname in `allowedEgress` cannot be expressed (NetworkPolicy matches IP blocks
  only): it is skipped with a warning; use a CIDR, or an FQDN-aware CNI policy.
- `denyAll: false` keeps ingress denied but leaves egress open.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from k8sclaw_protocol import ClawPolicy, names
from k8sclaw_protocol._policy import NetworkPolicySpec

Body = dict[str, Any]
METADATA_ADDRESS = ipaddress.ip_address("169.254.169.254")
DNS_PORT = 53


@dataclass(frozen=True)
class NetpolPlan:
    """The NetworkPolicy objects to apply and what could not be expressed."""

    policies: tuple[Body, ...]
    warnings: tuple[str, ...] = ()


def policy_names(instance: str | None = None) -> tuple[str, str]:
    """Names of the (agent, sandbox) NetworkPolicies, one pair per instance."""
    suffix = f"-{instance}" if instance else ""
    return f"k8sclaw-agent{suffix}", f"k8sclaw-sandbox{suffix}"


def _dns() -> Body:
    return {"ports": [{"protocol": proto, "port": DNS_PORT} for proto in ("UDP", "TCP")]}


def _nats() -> Body:
    peer = {
        "namespaceSelector": {"matchLabels": {names.LABEL_NAMESPACE_NAME: names.SYSTEM_NAMESPACE}},
        "podSelector": {"matchLabels": {names.LABEL_NAME: names.NATS_APP_NAME}},
    }
    return {"to": [peer], "ports": [{"protocol": "TCP", "port": names.NATS_PORT}]}


def _egress_rule(host: str, port: int | None) -> Body | None:
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        return None
    block: Body = {"cidr": str(network)}
    if network.version == 4 and METADATA_ADDRESS in network and network.prefixlen < 32:
        block["except"] = [f"{METADATA_ADDRESS}/32"]
    rule: Body = {"to": [{"ipBlock": block}]}
    if port is not None:
        rule["ports"] = [{"protocol": "TCP", "port": port}]
    return rule


def _selector(instance: str | None, sandbox: bool) -> Body:
    labels = {names.LABEL_ROLE: names.ROLE_AGENT}
    if instance:
        labels[names.LABEL_INSTANCE] = instance
    if sandbox:
        labels[names.LABEL_SANDBOX] = names.SANDBOX_LABEL_VALUE
        return {"matchLabels": labels}
    expression = {
        "key": names.LABEL_SANDBOX,
        "operator": "NotIn",
        "values": [names.SANDBOX_LABEL_VALUE],
    }
    return {"matchLabels": labels, "matchExpressions": [expression]}


def _object(name: str, namespace: str, selector: Body, egress: list[Body] | None) -> Body:
    spec: Body = {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": []}
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                names.LABEL_MANAGED_BY: names.MANAGED_BY,
                names.LABEL_PART_OF: names.MANAGED_BY,
            },
        },
        "spec": spec,
    }


def network_policies(
    namespace: str, policy: ClawPolicy | None, *, instance: str | None = None
) -> NetpolPlan:
    """The agent and sandbox NetworkPolicies for `namespace` (defaults without a policy)."""
    spec = (policy.spec.network_policy if policy else None) or NetworkPolicySpec()
    base = ([_dns()] if spec.allow_dns else []) + ([_nats()] if spec.allow_event_bus else [])
    extra: list[Body] = []
    warnings: list[str] = []
    for egress in spec.allowed_egress:
        rule = _egress_rule(egress.host, egress.port)
        if rule is None:
            warnings.append(
                f'allowedEgress host "{egress.host}" is not an IP block; NetworkPolicies cannot '
                "match host names, so it is not applied — use a CIDR"
            )
        else:
            extra.append(rule)
    agent_name, sandbox_name = policy_names(instance)
    agent_egress = base + extra if spec.deny_all else None
    opted_in = policy is not None and policy.spec.feature_gates.get("network-access") is True
    sandbox_extra = extra if opted_in else []
    sandbox_egress = base + sandbox_extra if spec.deny_all else None
    return NetpolPlan(
        policies=(
            _object(agent_name, namespace, _selector(instance, sandbox=False), agent_egress),
            _object(sandbox_name, namespace, _selector(instance, sandbox=True), sandbox_egress),
        ),
        warnings=tuple(warnings),
    )


def selects(selector: Body, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels + matchExpressions) matches `labels`."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = (
            expression["key"],
            expression["operator"],
            expression.get("values") or [],
        )
        present = key in labels
        matched = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(operator)
        if matched is None:
            raise ValueError(
                f"matchExpressions operator {operator!r} is not In, NotIn, Exists or DoesNotExist"
            )
        if not matched:
            return False
    return True
