"""The shipped NetworkPolicies around NATS (issue #13 item 1): clients (4222) only from the
control plane and from agent and channel pods; monitoring (8222) never from a tenant."""

from __future__ import annotations

from typing import Any

import pytest

from k8sclaw.installer import load_bundle
from k8sclaw_controllers.netpol import selects
from k8sclaw_protocol import names

SYSTEM = names.SYSTEM_NAMESPACE
NATS_POD = {names.LABEL_NAME: names.NATS_APP_NAME}


def _policies() -> list[dict[str, Any]]:
    objects = [o for step in load_bundle(names.VERSION, "default") for o in step.objects]
    return [o for o in objects if o["kind"] == "NetworkPolicy"]


def _peer_ok(peer: dict[str, Any], policy_ns: str, namespace: str, labels: dict[str, str]) -> bool:
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": namespace}
        if namespace == "monitoring":
            ns_labels["k8sclaw.io/monitoring"] = "true"
        if not selects(peer["namespaceSelector"], ns_labels):
            return False
    elif namespace != policy_ns:  # a podSelector alone means the policy's own namespace
        return False
    return selects(peer.get("podSelector") or {}, labels)


def admitted(namespace: str, labels: dict[str, str], port: int) -> bool:
    """Whether traffic from a pod reaches the NATS pod on `port` (ingress is the union of
    every policy that selects the NATS pod, as an enforcing CNI computes it)."""
    for policy in _policies():
        spec = policy["spec"]
        if not selects(spec["podSelector"], {**NATS_POD, names.LABEL_PART_OF: "k8sclaw"}):
            continue
        for rule in spec.get("ingress") or []:
            ports = {p["port"] for p in rule.get("ports") or []}
            peers = rule.get("from")
            source_ok = not peers or any(
                _peer_ok(p, policy["metadata"]["namespace"], namespace, labels) for p in peers
            )
            if source_ok and (not ports or port in ports):
                return True
    return False


AGENT = {names.LABEL_COMPONENT: names.COMPONENT_AGENT_RUN, names.LABEL_ROLE: names.ROLE_AGENT}
CHANNEL = {names.LABEL_COMPONENT: names.COMPONENT_CHANNEL}
CONTROLLER = {names.LABEL_NAME: "k8sclaw-controller"}


@pytest.mark.parametrize(
    ("namespace", "labels", "port", "allowed"),
    [
        ("team-a", AGENT, 4222, True),
        ("team-a", CHANNEL, 4222, True),
        (SYSTEM, CONTROLLER, 4222, True),
        ("team-a", {"app": "anything"}, 4222, False),
        ("team-a", AGENT, 8222, False),
        ("team-a", {"app": "anything"}, 8222, False),
        (SYSTEM, CONTROLLER, 8222, True),
        ("monitoring", {"app": "prometheus"}, 8222, True),
    ],
)
def test_nats_ingress(namespace: str, labels: dict[str, str], port: int, allowed: bool) -> None:
    assert admitted(namespace, labels, port) is allowed
