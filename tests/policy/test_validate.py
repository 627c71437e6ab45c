"""ClawPolicy and SkillPack validation: unknown gates, bad quantities, bad egress, sizes."""

from __future__ import annotations

from typing import Any

import pytest

from k8sclaw_controllers.policy import (
    egress_kind,
    policy_warnings,
    validate_policy,
    validate_skillpack,
)
from k8sclaw_protocol import SkillPack, names
from tests.policy._builders import make_policy


@pytest.mark.parametrize(
    ("spec", "rules"),
    [
        ({}, []),
        ({"featureGates": {"code-execution": False, "sub-agents": True}}, []),
        ({"featureGates": {"teleport": True}}, ["featureGates.teleport"]),
        (
            {"featureGates": {"Code-Execution": False, "x": True}},
            ["featureGates.Code-Execution", "featureGates.x"],
        ),
        ({"sandboxPolicy": {"maxCPU": "2", "maxMemory": "4Gi"}}, []),
        ({"sandboxPolicy": {"maxMemory": "4GB"}}, ["sandboxPolicy.maxMemory"]),
        ({"sandboxPolicy": {"maxCPU": "-1"}}, ["sandboxPolicy.maxCPU"]),
        (
            {"sandboxPolicy": {"required": True}, "featureGates": {"code-execution": False}},
            ["sandboxPolicy.required"],
        ),
        (
            {
                "networkPolicy": {
                    "allowedEgress": [{"host": "10.0.0.0/8"}, {"host": "api.openai.com"}]
                }
            },
            [],
        ),
        (
            {"networkPolicy": {"allowedEgress": [{"host": "1.2.3.4"}, {"host": "not a host!"}]}},
            ["networkPolicy.allowedEgress[1].host"],
        ),
    ],
    ids=[
        "empty",
        "known-gates",
        "unknown-gate",
        "gate-names-are-exact",
        "valid-caps",
        "malformed-memory-cap",
        "negative-cpu-cap",
        "required-sandbox-without-code-execution",
        "cidr-and-hostname",
        "garbage-host",
    ],
)
def test_validate_policy(spec: dict[str, Any], rules: list[str]) -> None:
    assert [violation.rule for violation in validate_policy(make_policy(**spec))] == rules


def test_unknown_gate_message_lists_the_known_gates() -> None:
    (violation,) = validate_policy(make_policy(featureGates={"teleport": True}))
    assert "code-execution" in violation.message and "network-access" in violation.message


def test_hostname_egress_warns_that_it_is_not_enforced() -> None:
    warnings = policy_warnings(
        make_policy(networkPolicy={"allowedEgress": [{"host": "api.openai.com"}]})
    )
    assert len(warnings) == 1 and "not enforced" in warnings[0]
    assert (
        policy_warnings(make_policy(networkPolicy={"allowedEgress": [{"host": "10.0.0.0/8"}]}))
        == []
    )


def test_cutting_the_event_bus_warns() -> None:
    warnings = policy_warnings(make_policy(networkPolicy={"allowEventBus": False}))
    assert any("NATS" in warning for warning in warnings)


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("10.0.0.0/8", "cidr"),
        ("1.2.3.4", "cidr"),
        ("fd00::/8", "cidr"),
        ("api.x.io", "hostname"),
        ("a b", None),
    ],
)
def test_egress_kind(host: str, kind: str | None) -> None:
    assert egress_kind(host) == kind


def _pack(skills: list[dict[str, Any]], runtime: dict[str, Any] | None = None) -> SkillPack:
    spec: dict[str, Any] = {"skills": skills}
    if runtime is not None:
        spec["runtimeRequirements"] = runtime
    return SkillPack.from_wire({"metadata": {"name": "p"}, "spec": spec})


def test_valid_skillpack_passes() -> None:
    pack = _pack(
        [{"name": "k8s", "content": "# use kubectl", "requires": {"bins": ["kubectl"]}}],
        {"image": "a/b:1"},
    )
    assert validate_skillpack(pack) == []


@pytest.mark.parametrize(
    ("skills", "runtime", "rule"),
    [
        ([{"name": "a", "content": "x"}, {"name": "a", "content": "y"}], None, "skills[1].name"),
        ([{"name": "a", "content": "   "}], None, "skills[0].content"),
        (
            [{"name": "a", "content": "x", "requires": {"bins": ["/bin/sh"]}}],
            None,
            "skills[0].requires.bins",
        ),
        ([{"name": "a", "content": "x" * (1024 * 1024)}], None, "skills"),
        ([{"name": "a", "content": "x"}], {"image": "bad image"}, "runtimeRequirements.image"),
    ],
    ids=["duplicate-name", "blank-content", "bin-with-path", "over-configmap-limit", "bad-image"],
)
def test_invalid_skillpacks(
    skills: list[dict[str, Any]], runtime: dict[str, Any] | None, rule: str
) -> None:
    assert [violation.rule for violation in validate_skillpack(_pack(skills, runtime))] == [rule]


def test_a_rule_for_an_unknown_tool_is_refused_listing_the_known_ones() -> None:
    policy = make_policy(
        toolGating={
            "rules": [
                {"tool": "exec_cmd", "action": "deny"},
                {"tool": "execute_command", "action": "deny"},
                {"tool": "browser_click", "action": "ask"},
            ]
        }
    )
    [violation] = validate_policy(policy)
    assert violation.rule == "toolGating.rules[exec_cmd]"
    assert 'unknown tool "exec_cmd"' in violation.message
    assert all(tool in violation.message for tool in names.TOOLS)
    assert "browser_<action>" in violation.message


def test_a_default_image_outside_the_allow_list_is_refused() -> None:
    bad = make_policy(sandboxPolicy={"defaultImage": "corp/a:1", "allowedImages": ["corp/b:1"]})
    assert [v.rule for v in validate_policy(bad)] == ["sandboxPolicy.defaultImage"]
    good = make_policy(sandboxPolicy={"defaultImage": "corp/a:1", "allowedImages": ["corp/a:1"]})
    assert validate_policy(good) == []
