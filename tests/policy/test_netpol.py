"""Generated NetworkPolicies select the pods the controller builds; egress matches policy."""

from __future__ import annotations

from typing import Any

import pytest

from k8sclaw_controllers.manager import Images, JobOptions, build_job
from k8sclaw_controllers.netpol import network_policies, public_rule, selects
from k8sclaw_protocol import AgentRun, names
from tests.policy._builders import make_policy, run_body, sandbox

NS = "team-a"


def _pod_labels(with_sandbox: bool, instance: str = "alpha") -> dict[str, str]:
    """Labels of the pod template exactly as the controller's Job builder writes them."""
    body = run_body(instanceRef=instance, **({"sandbox": sandbox()} if with_sandbox else {}))
    body["metadata"]["uid"] = "0000-1111"
    job = build_job(
        AgentRun.from_wire(body), JobOptions(images=Images(), event_bus_url=names.EVENT_BUS_URL)
    )
    labels: dict[str, str] = job["spec"]["template"]["metadata"]["labels"]
    return labels


def _by_name(policies: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    return {policy["metadata"]["name"]: policy for policy in policies}


def test_agent_pod_is_selected_by_the_agent_policy_only() -> None:
    plan = _by_name(network_policies(NS, None, instance="alpha").policies)
    labels = _pod_labels(with_sandbox=False)
    assert labels[names.LABEL_ROLE] == names.ROLE_AGENT
    assert selects(plan["k8sclaw-agent-alpha"]["spec"]["podSelector"], labels)
    assert not selects(plan["k8sclaw-sandbox-alpha"]["spec"]["podSelector"], labels)


def test_sandbox_pod_is_selected_by_the_sandbox_policy_only() -> None:
    plan = _by_name(network_policies(NS, None, instance="alpha").policies)
    labels = _pod_labels(with_sandbox=True)
    assert selects(plan["k8sclaw-sandbox-alpha"]["spec"]["podSelector"], labels)
    assert not selects(plan["k8sclaw-agent-alpha"]["spec"]["podSelector"], labels)


def test_other_instances_pods_are_not_selected() -> None:
    plan = _by_name(network_policies(NS, None, instance="alpha").policies)
    assert not selects(
        plan["k8sclaw-agent-alpha"]["spec"]["podSelector"], _pod_labels(False, "beta")
    )
    namespace_wide = network_policies(NS, None).policies[0]
    assert selects(namespace_wide["spec"]["podSelector"], _pod_labels(False, "beta"))


def test_policies_live_in_the_runs_namespace_and_deny_all_ingress() -> None:
    for policy in network_policies(NS, None).policies:
        assert policy["metadata"]["namespace"] == NS
        assert policy["spec"]["ingress"] == []
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_egress_matches_the_policy() -> None:
    policy = make_policy(
        networkPolicy={
            "allowedEgress": [
                {"host": "0.0.0.0/0", "port": 443},
                {"host": "10.1.2.3"},
                {"host": "api.openai.com", "port": 443},
            ]
        }
    )
    plan = network_policies(NS, policy, instance="alpha")
    agent, sandbox_policy = plan.policies
    dns, nats, model, https, single = agent["spec"]["egress"]
    assert model == public_rule(443)  # no instance given: the default provider's public API
    assert dns == {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
    assert nats["ports"] == [{"protocol": "TCP", "port": 4222}]
    assert nats["to"][0]["podSelector"] == {"matchLabels": {names.LABEL_NAME: "nats"}}
    assert nats["to"][0]["namespaceSelector"]["matchLabels"] == {
        names.LABEL_NAMESPACE_NAME: names.SYSTEM_NAMESPACE
    }
    assert https == {
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }
    assert single == {"to": [{"ipBlock": {"cidr": "10.1.2.3/32"}}]}
    assert sandbox_policy["spec"]["egress"] == [dns, nats, model]
    assert len(plan.warnings) == 1 and "api.openai.com" in plan.warnings[0]


@pytest.mark.parametrize(
    ("network", "agent_egress_len"),
    [
        ({"allowDNS": False}, 2),
        ({"allowEventBus": False}, 2),
        ({"allowDNS": False, "allowEventBus": False}, 1),
    ],
)
def test_dns_and_event_bus_switches(network: dict[str, Any], agent_egress_len: int) -> None:
    agent, _ = network_policies(NS, make_policy(networkPolicy=network)).policies
    assert len(agent["spec"]["egress"]) == agent_egress_len


def test_deny_all_false_leaves_egress_open_but_ingress_closed() -> None:
    agent, sandbox_policy = network_policies(
        NS, make_policy(networkPolicy={"denyAll": False})
    ).policies
    for policy in (agent, sandbox_policy):
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        assert "egress" not in policy["spec"]


def test_selects_evaluates_expressions() -> None:
    selector = {
        "matchExpressions": [
            {"key": "a", "operator": "Exists"},
            {"key": "b", "operator": "DoesNotExist"},
        ]
    }
    assert selects(selector, {"a": "1"})
    assert not selects(selector, {"a": "1", "b": "2"})
    with pytest.raises(ValueError, match="operator"):
        selects({"matchExpressions": [{"key": "a", "operator": "Gt"}]}, {})


@pytest.mark.parametrize(
    ("gates", "sandbox_gets_egress"),
    [({}, False), ({"network-access": False}, False), ({"network-access": True}, True)],
    ids=["gate-absent", "gate-off", "gate-on"],
)
def test_sandbox_pod_gets_allowed_egress_only_when_network_access_is_explicitly_on(
    gates: dict[str, bool], sandbox_gets_egress: bool
) -> None:
    policy = make_policy(
        featureGates=gates, networkPolicy={"allowedEgress": [{"host": "10.0.0.0/8", "port": 443}]}
    )
    plan = _by_name(network_policies(NS, policy, instance="alpha").policies)
    labels = _pod_labels(with_sandbox=True)
    selecting = [p for p in plan.values() if selects(p["spec"]["podSelector"], labels)]
    assert [p["metadata"]["name"] for p in selecting] == ["k8sclaw-sandbox-alpha"]
    egress = selecting[0]["spec"]["egress"]
    beyond_model = [
        peer["ipBlock"]["cidr"]
        for rule in egress[3:]
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    ]
    assert beyond_model == (["10.0.0.0/8"] if sandbox_gets_egress else [])
    # DNS, NATS and the model endpoint, whatever the gate: the agent in the pod needs them.
    assert egress[:3] == plan["k8sclaw-agent-alpha"]["spec"]["egress"][:3]
    assert egress[2] == public_rule(443)
