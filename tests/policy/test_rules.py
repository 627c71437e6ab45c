"""Table of AgentRun admission cases: which rules each run violates under which policy.

Every row names the rules it must trip (empty: admitted); the denial message must name
the policy and each rule, so a user knows what to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from k8sclaw_controllers.policy import evaluate_run
from tests.policy._builders import make_policy, make_run, sandbox

PARENT = {"runName": "run-0", "sessionKey": "s-0", "spawnDepth": 1}
DEPTH4 = {**PARENT, "spawnDepth": 4}
STRICT_TOOLS = {
    "defaultAction": "deny",
    "rules": [
        {"tool": "read_file", "action": "allow"},
        {"tool": "fetch_url", "action": "ask"},
        {"tool": "execute_command", "action": "deny"},
    ],
}
CAPS = {"maxCPU": "1", "maxMemory": "512Mi"}


@dataclass
class Case:
    id: str
    run: dict[str, Any]
    policy: dict[str, Any] | None
    rules: list[str]
    running: int | None = None
    parent_depth: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


CASES = [
    # No policy: only pod security and lineage apply.
    Case("no-policy-plain-run", {}, None, []),
    Case("no-policy-sandbox-ok", {"sandbox": sandbox()}, None, []),
    Case("no-policy-deep-subagent", {"parent": DEPTH4}, None, []),
    Case(
        "no-policy-root-sandbox",
        {"sandbox": {**sandbox(), "securityContext": {"runAsNonRoot": False}}},
        None,
        ["podSecurity.restricted"],
    ),
    Case(
        "writable-root-and-caps-kept",
        {
            "sandbox": {
                **sandbox(),
                "securityContext": {
                    "readOnlyRootFilesystem": False,
                    "capabilities": {"drop": ["NET_RAW"]},
                },
            }
        },
        {},
        ["podSecurity.restricted", "podSecurity.restricted"],
    ),
    Case("empty-policy-admits", {}, {}, []),
    # sandboxPolicy.required
    Case(
        "sandbox-required-missing",
        {},
        {"sandboxPolicy": {"required": True}},
        ["sandboxPolicy.required"],
    ),
    Case(
        "sandbox-required-disabled",
        {"sandbox": {"enabled": False}},
        {"sandboxPolicy": {"required": True}},
        ["sandboxPolicy.required"],
    ),
    Case(
        "sandbox-required-present",
        {"sandbox": sandbox()},
        {"sandboxPolicy": {"required": True}},
        [],
    ),
    Case("sandbox-optional-absent", {}, {"sandboxPolicy": {"required": False}}, []),
    # Resource caps
    Case(
        "caps-within",
        {"sandbox": sandbox(limits={"cpu": "500m", "memory": "256Mi"})},
        {"sandboxPolicy": CAPS},
        [],
    ),
    Case(
        "caps-equal",
        {"sandbox": sandbox(limits={"cpu": "1000m", "memory": "512Mi"})},
        {"sandboxPolicy": CAPS},
        [],
    ),
    Case(
        "cpu-over-cap",
        {"sandbox": sandbox(limits={"cpu": "2", "memory": "256Mi"})},
        {"sandboxPolicy": CAPS},
        ["sandboxPolicy.maxCPU"],
    ),
    Case(
        "memory-over-cap-units-differ",
        {"sandbox": sandbox(limits={"cpu": "1", "memory": "1G"})},
        {"sandboxPolicy": CAPS},
        ["sandboxPolicy.maxMemory"],
    ),
    Case(
        "request-over-cap",
        {"sandbox": sandbox(requests={"cpu": "1500m"}, limits={"cpu": "1"})},
        {"sandboxPolicy": CAPS},
        ["sandboxPolicy.maxCPU"],
    ),
    Case("caps-missing-limits-filled", {"sandbox": sandbox()}, {"sandboxPolicy": CAPS}, []),
    Case("caps-ignored-without-sandbox", {}, {"sandboxPolicy": CAPS}, []),
    Case(
        "malformed-run-limit",
        {"sandbox": sandbox(limits={"cpu": "lots"})},
        {"sandboxPolicy": CAPS},
        ["spec.sandbox.resources.limits.cpu"],
    ),
    Case(
        "malformed-run-request-no-cap",
        {"sandbox": sandbox(requests={"memory": "12XB"})},
        {},
        ["spec.sandbox.resources.requests.memory"],
    ),
    Case(
        "malformed-policy-cap",
        {"sandbox": sandbox(limits={"cpu": "1"})},
        {"sandboxPolicy": {"maxCPU": "one"}},
        ["sandboxPolicy.maxCPU"],
    ),
    Case(
        "negative-run-limit",
        {"sandbox": sandbox(limits={"memory": "-1Gi"})},
        {"sandboxPolicy": CAPS},
        ["spec.sandbox.resources.limits.memory"],
    ),
    # Sub-agent depth and lineage
    Case("depth-within", {"parent": PARENT}, {"subagentPolicy": {"maxDepth": 3}}, []),
    Case(
        "depth-at-limit",
        {"parent": {**PARENT, "spawnDepth": 3}},
        {"subagentPolicy": {"maxDepth": 3}},
        [],
    ),
    Case(
        "depth-exceeds",
        {"parent": DEPTH4},
        {"subagentPolicy": {"maxDepth": 3}},
        ["subagentPolicy.maxDepth"],
    ),
    Case(
        "depth-zero-forbids-children",
        {"parent": PARENT},
        {"subagentPolicy": {"maxDepth": 0}},
        ["subagentPolicy.maxDepth"],
    ),
    Case("depth-matches-parent", {"parent": {**PARENT, "spawnDepth": 3}}, {}, [], parent_depth=2),
    Case(
        "depth-forged-lower-than-parent",
        {"parent": PARENT},
        {"subagentPolicy": {"maxDepth": 3}},
        ["spec.parent.spawnDepth"],
        parent_depth=3,
    ),
    # Concurrency per instance
    Case("concurrency-below", {}, {"subagentPolicy": {"maxConcurrent": 2}}, [], running=1),
    Case(
        "concurrency-at-limit",
        {},
        {"subagentPolicy": {"maxConcurrent": 2}},
        ["subagentPolicy.maxConcurrent"],
        running=2,
    ),
    Case(
        "concurrency-not-checked-on-update",
        {},
        {"subagentPolicy": {"maxConcurrent": 1}},
        [],
        running=None,
    ),
    Case("concurrency-no-limit-block", {}, {}, [], running=500),
    # Feature gates
    Case(
        "gate-code-execution-off-sandbox",
        {"sandbox": sandbox()},
        {"featureGates": {"code-execution": False}},
        ["featureGates.code-execution"],
    ),
    Case("gate-code-execution-off-no-sandbox", {}, {"featureGates": {"code-execution": False}}, []),
    Case(
        "gate-code-execution-on",
        {"sandbox": sandbox()},
        {"featureGates": {"code-execution": True}},
        [],
    ),
    Case(
        "gate-sub-agents-off",
        {"parent": PARENT},
        {"featureGates": {"sub-agents": False}},
        ["featureGates.sub-agents"],
    ),
    Case(
        "gate-file-access-off-tool",
        {"toolPolicy": {"allow": ["write_file"]}},
        {"featureGates": {"file-access": False}},
        ["featureGates.file-access"],
    ),
    Case(
        "gate-network-off-tool",
        {"toolPolicy": {"allow": ["fetch_url", "read_file"]}},
        {"featureGates": {"network-access": False}},
        ["featureGates.network-access"],
    ),
    Case(
        "gate-browser-off-tool",
        {"toolPolicy": {"allow": ["browser_open"]}},
        {"featureGates": {"browser-automation": False}},
        ["featureGates.browser-automation"],
    ),
    Case(
        "gate-beats-allow-rule",
        {"toolPolicy": {"allow": ["execute_command"]}},
        {
            "featureGates": {"code-execution": False},
            "toolGating": {"rules": [{"tool": "execute_command", "action": "allow"}]},
        },
        ["featureGates.code-execution"],
    ),
    Case("unknown-gate-ignored-at-run-time", {}, {"featureGates": {"teleport": False}}, []),
    # Tool gating
    Case(
        "tool-denied-by-rule",
        {"toolPolicy": {"allow": ["execute_command"]}},
        {"toolGating": STRICT_TOOLS},
        ["toolGating.rules[execute_command]"],
    ),
    Case(
        "tool-denied-by-default",
        {"toolPolicy": {"allow": ["write_file"]}},
        {"toolGating": STRICT_TOOLS},
        ["toolGating.defaultAction"],
    ),
    Case(
        "tool-allowed-by-rule",
        {"toolPolicy": {"allow": ["read_file"]}},
        {"toolGating": STRICT_TOOLS},
        [],
    ),
    Case(
        "tool-ask-requested-explicitly",
        {"toolPolicy": {"allow": ["fetch_url"]}},
        {"toolGating": STRICT_TOOLS},
        [],
    ),
    Case(
        "tool-default-allow",
        {"toolPolicy": {"allow": ["write_file"]}},
        {"toolGating": {"defaultAction": "allow"}},
        [],
    ),
    Case(
        "tool-deny-only-in-run-deny",
        {"toolPolicy": {"deny": ["execute_command"]}},
        {"toolGating": STRICT_TOOLS},
        [],
    ),
    Case(
        "two-denied-tools-both-named",
        {"toolPolicy": {"allow": ["execute_command", "list_directory"]}},
        {"toolGating": STRICT_TOOLS},
        ["toolGating.rules[execute_command]", "toolGating.defaultAction"],
    ),
    # Gaps found reviewing SPEC §6 and reference §6 (second round)
    Case(
        "tool-default-ask-requested-explicitly",
        {"toolPolicy": {"allow": ["write_file", "custom_tool"]}},
        {"toolGating": {"defaultAction": "ask"}},
        [],
    ),
    Case(
        "tool-default-ask-rule-deny-still-denies",
        {"toolPolicy": {"allow": ["execute_command"]}},
        {
            "toolGating": {
                "defaultAction": "ask",
                "rules": [{"tool": "execute_command", "action": "deny"}],
            }
        },
        ["toolGating.rules[execute_command]"],
    ),
    Case(
        "gate-sub-agents-off-tool-on-top-level-run",
        {"toolPolicy": {"allow": ["spawn_subagent"]}},
        {"featureGates": {"sub-agents": False}},
        ["featureGates.sub-agents"],
    ),
    Case(
        "gate-code-execution-off-tool-without-sandbox",
        {"toolPolicy": {"allow": ["execute_command"]}},
        {"featureGates": {"code-execution": False}},
        ["featureGates.code-execution"],
    ),
    Case(
        "gate-explicitly-on-does-not-override-deny-rule",
        {"toolPolicy": {"allow": ["fetch_url"]}},
        {
            "featureGates": {"network-access": True},
            "toolGating": {"rules": [{"tool": "fetch_url", "action": "deny"}]},
        },
        ["toolGating.rules[fetch_url]"],
    ),
    Case(
        "gate-network-off-sandbox-still-allowed",
        {"sandbox": sandbox()},
        {"featureGates": {"network-access": False}},
        [],
    ),
    Case(
        "gate-off-tool-only-in-run-deny",
        {"toolPolicy": {"deny": ["read_file"]}},
        {"featureGates": {"file-access": False}},
        [],
    ),
    Case(
        "millicpu-within-cap",
        {"sandbox": sandbox(limits={"cpu": "1000m"}, requests={"cpu": "500m"})},
        {"sandboxPolicy": CAPS},
        [],
    ),
    Case(
        "millicpu-one-over-cap",
        {"sandbox": sandbox(limits={"cpu": "1001m", "memory": "256Mi"})},
        {"sandboxPolicy": CAPS},
        ["sandboxPolicy.maxCPU"],
    ),
    Case(
        "decimal-gigabyte-over-binary-cap",
        {"sandbox": sandbox(limits={"cpu": "1", "memory": "1G"})},
        {"sandboxPolicy": {"maxCPU": "1", "maxMemory": "953Mi"}},
        ["sandboxPolicy.maxMemory"],
    ),
    Case(
        "exponent-quantity-within-cap",
        {"sandbox": sandbox(limits={"cpu": "1e0", "memory": "5e8"})},
        {"sandboxPolicy": CAPS},
        [],
    ),
    Case(
        "depth-parent-gone-judged-by-cap-only",
        {"parent": {**PARENT, "spawnDepth": 3}},
        {"subagentPolicy": {"maxDepth": 3}},
        [],
        parent_depth=None,
    ),
    Case(
        "pod-security-ignored-when-sandbox-disabled",
        {"sandbox": {"enabled": False, "securityContext": {"runAsNonRoot": False}}},
        {},
        [],
    ),
    # Several rules at once
    Case(
        "everything-wrong",
        {"parent": DEPTH4, "toolPolicy": {"allow": ["execute_command"]}},
        {
            "sandboxPolicy": {"required": True},
            "subagentPolicy": {"maxDepth": 3, "maxConcurrent": 1},
            "toolGating": STRICT_TOOLS,
        },
        [
            "subagentPolicy.maxDepth",
            "sandboxPolicy.required",
            "toolGating.rules[execute_command]",
            "subagentPolicy.maxConcurrent",
        ],
        running=1,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_rule_table(case: Case) -> None:
    policy = make_policy(**case.policy) if case.policy is not None else None
    decision = evaluate_run(
        make_run(**case.run),
        policy,
        running_in_instance=case.running,
        parent_depth=case.parent_depth,
    )
    assert [violation.rule for violation in decision.violations] == case.rules
    assert decision.allowed is (not case.rules)
    if case.rules:
        judge = 'ClawPolicy "default-policy"' if policy else "K8sClaw admission"
        assert decision.message.startswith(f"denied by {judge} rule ")
        for rule in case.rules:
            assert f"rule {rule}: " in decision.message
    else:
        assert decision.message == ""


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


def test_depth_denial_reads_like_the_issue() -> None:
    decision = evaluate_run(make_run(parent=DEPTH4), make_policy(subagentPolicy={"maxDepth": 3}))
    expected = "rule subagentPolicy.maxDepth: spawn depth 4 exceeds 3"
    assert decision.message == f'denied by ClawPolicy "default-policy" {expected}'


def test_cap_denial_quotes_the_value_and_the_cap() -> None:
    run = make_run(sandbox=sandbox(limits={"cpu": "2"}))
    decision = evaluate_run(run, make_policy(sandboxPolicy=CAPS))
    assert 'spec.sandbox.resources.limits.cpu "2" exceeds 1' in decision.message


def test_malformed_quantity_is_a_denial_not_a_crash() -> None:
    run = make_run(sandbox=sandbox(limits={"cpu": "1.2.3"}))
    decision = evaluate_run(run, make_policy(sandboxPolicy=CAPS))
    assert not decision.allowed
    assert "'1.2.3' is not a quantity" in decision.message
