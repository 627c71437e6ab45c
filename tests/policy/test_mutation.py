"""Mutation: instance label, sandbox defaults and the effective toolPolicy as JSON patches."""

from __future__ import annotations

from typing import Any

import jsonpatch

from k8sclaw_controllers.policy import effective_tool_policy, evaluate_run, mutation_patches
from k8sclaw_protocol import AgentRun, names
from tests.policy._builders import make_policy, make_run, run_body, sandbox

STRICT = {
    "defaultAction": "deny",
    "rules": [
        {"tool": "read_file", "action": "allow"},
        {"tool": "list_directory", "action": "allow"},
        {"tool": "fetch_url", "action": "ask"},
        {"tool": "execute_command", "action": "deny"},
    ],
}


def _apply(spec: dict[str, Any], policy: dict[str, Any] | None) -> dict[str, Any]:
    run = make_run(**spec)
    patches = mutation_patches(run, make_policy(**policy) if policy is not None else None)
    return jsonpatch.apply_patch(run_body(**spec), patches)


def test_without_policy_only_the_instance_label_is_added() -> None:
    mutated = _apply({}, None)
    assert mutated["metadata"]["labels"] == {names.LABEL_INSTANCE: "alpha"}
    assert "toolPolicy" not in mutated["spec"]


def test_existing_labels_are_kept_and_no_patch_when_nothing_changes() -> None:
    body = run_body()
    body["metadata"]["labels"] = {"team": "a", names.LABEL_INSTANCE: "alpha"}
    assert mutation_patches(AgentRun.from_wire(body), None) == []


def test_default_sandbox_image_and_capped_limits_are_filled() -> None:
    policy = {
        "sandboxPolicy": {"defaultImage": "corp/sandbox:1", "maxCPU": "1", "maxMemory": "1Gi"}
    }
    mutated = _apply(
        {"sandbox": {"enabled": True, "resources": {"limits": {"cpu": "500m"}}}}, policy
    )
    assert mutated["spec"]["sandbox"]["image"] == "corp/sandbox:1"
    assert mutated["spec"]["sandbox"]["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}


def test_explicit_sandbox_image_is_kept() -> None:
    mutated = _apply({"sandbox": sandbox()}, {"sandboxPolicy": {"defaultImage": "corp/sandbox:1"}})
    assert mutated["spec"]["sandbox"]["image"] == sandbox()["image"]


def test_effective_tool_policy_without_run_allow_is_what_the_policy_allows() -> None:
    mutated = _apply({}, {"toolGating": STRICT, "featureGates": {"file-access": True}})
    assert mutated["spec"]["toolPolicy"]["allow"] == ["fetch_url", "list_directory", "read_file"]
    deny = mutated["spec"]["toolPolicy"]["deny"]
    assert "execute_command" in deny and "write_file" in deny
    assert "fetch_url" not in deny  # ask: offered, every call waits for approval
    assert mutated["spec"]["toolPolicy"]["ask"] == ["fetch_url"]


def test_ask_tools_carry_the_policy_approval_timeout() -> None:
    gating = {**STRICT, "approvalTimeoutSeconds": 42}
    effective = effective_tool_policy(make_policy(toolGating=gating), None)
    assert (effective.ask, effective.approval_timeout_seconds) == (["fetch_url"], 42)
    allow_only = effective_tool_policy(make_policy(), None)
    assert (allow_only.ask, allow_only.approval_timeout_seconds) == (None, None)


def test_effective_tool_policy_intersects_the_run_allow_and_merges_deny() -> None:
    spec = {"toolPolicy": {"allow": ["read_file", "fetch_url"], "deny": ["custom_tool"]}}
    mutated = _apply(spec, {"toolGating": STRICT})
    assert mutated["spec"]["toolPolicy"]["allow"] == ["read_file", "fetch_url"]
    assert mutated["spec"]["toolPolicy"]["ask"] == ["fetch_url"]
    assert "custom_tool" in mutated["spec"]["toolPolicy"]["deny"]
    assert "execute_command" in mutated["spec"]["toolPolicy"]["deny"]


def test_gates_remove_tools_from_the_default_allow_list() -> None:
    policy = make_policy(featureGates={"code-execution": False, "network-access": False})
    effective = effective_tool_policy(policy, None)
    assert effective.allow is not None and effective.deny is not None
    assert "execute_command" not in effective.allow and "fetch_url" not in effective.allow
    assert {"execute_command", "fetch_url"} <= set(effective.deny)
    assert set(effective.allow) == set(names.TOOLS) - {"execute_command", "fetch_url"}


def test_a_run_asking_for_a_denied_tool_is_refused_not_narrowed() -> None:
    run = make_run(toolPolicy={"allow": ["execute_command"]})
    decision = evaluate_run(run, make_policy(toolGating=STRICT))
    assert not decision.allowed
    assert all(patch["path"] != "/spec/toolPolicy" for patch in decision.patches)


def test_patches_are_valid_json_patch_against_the_wire_object() -> None:
    spec = {"sandbox": {"enabled": True}}
    policy = {"sandboxPolicy": {"defaultImage": "corp/sandbox:1"}, "toolGating": STRICT}
    mutated = _apply(spec, policy)
    again = AgentRun.from_wire(mutated)
    assert mutation_patches(again, make_policy(**policy)) == []


def test_default_ask_offers_every_tool_and_gates_all_but_the_allowed_ones() -> None:
    """`defaultAction: ask`: every tool is offered (so nothing advertised is withheld),
    and every call of a tool without an `allow` rule waits for a person's approval."""
    ask = {
        "toolGating": {"defaultAction": "ask", "rules": [{"tool": "read_file", "action": "allow"}]}
    }
    implicit = _apply({}, ask)["spec"]["toolPolicy"]
    assert implicit["allow"] == sorted(names.TOOLS)
    assert implicit["deny"] == []  # ask is never a denial
    assert implicit["ask"] == sorted(set(names.TOOLS) - {"read_file"})
    explicit = _apply({"toolPolicy": {"allow": ["read_file", "execute_command"]}}, ask)
    assert explicit["spec"]["toolPolicy"]["allow"] == ["read_file", "execute_command"]
    assert explicit["spec"]["toolPolicy"]["ask"] == ["execute_command"]


def test_an_empty_allow_list_is_kept_empty_by_the_mutation() -> None:
    """`toolPolicy.allow: []` means no tools: the policy must not fill it in."""
    mutated = _apply({"toolPolicy": {"allow": []}}, {"toolGating": {"defaultAction": "allow"}})
    assert mutated["spec"]["toolPolicy"]["allow"] == []
    unset = _apply({}, {"toolGating": {"defaultAction": "allow"}})
    assert unset["spec"]["toolPolicy"]["allow"] == sorted(names.TOOLS)
