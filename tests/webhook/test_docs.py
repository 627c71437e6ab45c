"""docs/policy.md stays true: every example denial is what the code really says, and the
feature-gate table names the tools each gate really switches off."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from k8sclaw_controllers.policy import (
    GATE_TOOLS,
    Decision,
    evaluate_run,
    name_token,
    spec_immutable,
    validate_policy,
    validate_skillpack,
)
from k8sclaw_controllers.webhook import Admission
from k8sclaw_controllers.webhook._review import AdmissionRequest
from k8sclaw_protocol import FEATURE_GATES, ClawInstance, SkillPack
from tests.policy._builders import make_policy, make_run, run_body, sandbox
from tests.webhook._memory import MemorySource

DOC = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text()
PARENT = {"runName": "run-0", "sessionKey": "s", "spawnDepth": 1}


def _run_denials() -> list[Any]:
    """(id, message) of one run per documented rule."""
    caps = {"maxCPU": "1", "maxMemory": "1Gi"}
    cases: list[tuple[str, Any, Any, dict[str, int]]] = [
        ("sandbox", make_run(), make_policy(sandboxPolicy={"required": True}), {}),
        (
            "cap",
            make_run(sandbox=sandbox(limits={"cpu": "2"})),
            make_policy(sandboxPolicy=caps),
            {},
        ),
        (
            "malformed",
            make_run(sandbox=sandbox(limits={"memory": "2 GB"})),
            make_policy(sandboxPolicy={"maxMemory": "1Gi"}),
            {},
        ),
        (
            "malformed-cap",
            make_run(sandbox=sandbox()),
            make_policy(sandboxPolicy={"maxMemory": "1 gig"}),
            {},
        ),
        (
            "depth",
            make_run(parent={**PARENT, "spawnDepth": 4}),
            make_policy(subagentPolicy={"maxDepth": 3}),
            {},
        ),
        (
            "concurrency",
            make_run(),
            make_policy(subagentPolicy={"maxConcurrent": 2}),
            {"running_in_instance": 2},
        ),
        (
            "gate-code",
            make_run(sandbox=sandbox()),
            make_policy(featureGates={"code-execution": False}),
            {},
        ),
        ("gate-sub", make_run(parent=PARENT), make_policy(featureGates={"sub-agents": False}), {}),
        (
            "gate-tool",
            make_run(toolPolicy={"allow": ["fetch_url"]}),
            make_policy(featureGates={"network-access": False}),
            {},
        ),
        (
            "tool-rule",
            make_run(toolPolicy={"allow": ["execute_command"]}),
            make_policy(toolGating={"rules": [{"tool": "execute_command", "action": "deny"}]}),
            {},
        ),
        (
            "tool-default",
            make_run(toolPolicy={"allow": ["write_file"]}),
            make_policy(toolGating={"defaultAction": "deny"}),
            {},
        ),
        (
            "pod-security",
            make_run(sandbox={**sandbox(), "securityContext": {"runAsNonRoot": False}}),
            None,
            {},
        ),
        (
            "lineage",
            make_run(parent={**PARENT, "spawnDepth": 3}),
            None,
            {"parent_depth": 0},
        ),
    ]
    return [
        pytest.param(evaluate_run(run, policy, **extra).message, id=name)
        for name, run, policy, extra in cases
    ] + _confinement_denials()


def _confinement_denials() -> list[Any]:
    alpha = ClawInstance.from_wire(
        {
            "metadata": {"name": "alpha", "namespace": "team-a"},
            "spec": {"agents": {"default": {"model": "m", "baseURL": "https://llm.corp/v1"}}},
        }
    )
    evil = {"model": "m", "baseURL": "https://evil.example/v1"}
    miner = {"enabled": True, "image": "attacker/miner:latest"}
    corp = make_policy(sandboxPolicy={"defaultImage": "corp/sandbox:2"})
    cases = {
        "base-url": evaluate_run(make_run(model=evil), None, instance=alpha),
        "image": evaluate_run(make_run(sandbox=miner), corp, instance=alpha),
        "configmap": evaluate_run(
            make_run(skills=[{"configMapRef": "team-notes"}]), None, instance=alpha
        ),
        "skillpack": evaluate_run(
            make_run(skills=[{"skillPackRef": "team-notes"}]),
            None,
            instance=alpha,
            skill_packs=set(),
        ),
        "name": Decision(violations=tuple(name_token("AgentRun", "my.run"))),
        "instance-name": Decision(violations=tuple(name_token("ClawInstance", "team.alpha"))),
    }
    return [pytest.param(decision.message, id=name) for name, decision in cases.items()]


def _written_denials() -> list[Any]:
    old, new = run_body(), run_body(task="x")
    old["status"] = {"phase": "Running"}
    pack = SkillPack.from_wire(
        {
            "metadata": {"name": "p", "namespace": "team-a"},
            "spec": {"skills": [{"name": "a", "content": "x", "requires": {"bins": ["rm -rf"]}}]},
        }
    )
    found = {
        "immutable": spec_immutable(old, new),
        "unknown-gate": validate_policy(make_policy(featureGates={"teleport": True})),
        "contradiction": validate_policy(
            make_policy(sandboxPolicy={"required": True}, featureGates={"code-execution": False})
        ),
        "egress": validate_policy(
            make_policy(networkPolicy={"allowedEgress": [{"host": "not a host"}]})
        ),
        "skillpack": validate_skillpack(pack),
        "unknown-tool": validate_policy(
            make_policy(toolGating={"rules": [{"tool": "exec_cmd", "action": "deny"}]})
        ),
        "default-image": validate_policy(
            make_policy(sandboxPolicy={"defaultImage": "corp/a:1", "allowedImages": ["corp/b:1"]})
        ),
    }
    return [
        pytest.param(Decision(violations=tuple(v)).message, id=name) for name, v in found.items()
    ]


@pytest.mark.parametrize("message", [*_run_denials(), *_written_denials()])
def test_every_documented_denial_is_the_real_message(message: str) -> None:
    assert message, "the scenario must be denied"
    assert f"`{message}`" in DOC


async def _webhook_denial(instance: ClawInstance | None, obj: dict[str, Any]) -> str:
    source = MemorySource()
    if instance is not None:
        source.instances[("team-a", "alpha")] = instance
    request = AdmissionRequest(str(uuid.uuid4()), "CREATE", "team-a", obj)
    return (await Admission(source).validate_run(request)).message


async def test_documented_instance_and_policy_reference_denials_are_real() -> None:
    missing = await _webhook_denial(None, run_body(instanceRef="ghost"))
    instance = ClawInstance.from_wire(
        {
            "metadata": {"name": "alpha", "namespace": "team-a"},
            "spec": {"agents": {"default": {"model": "m"}}, "policyRef": "gone-policy"},
        }
    )
    dangling = await _webhook_denial(instance, run_body())
    broken = run_body()
    del broken["spec"]["task"]
    malformed = await _webhook_denial(instance, broken)
    for message in (missing, dangling, malformed):
        assert f"`{message}`" in DOC


def test_feature_gate_table_names_every_gate_and_its_tools() -> None:
    rows = {
        match[1]: match[2] for match in re.finditer(r"^\| `([a-z-]+)` \| ([^|]*) \|", DOC, re.M)
    }
    assert set(FEATURE_GATES) <= set(rows)
    for gate, tools in GATE_TOOLS.items():
        assert re.findall(r"`([a-z_]+)`", rows[gate]) == list(tools) or (
            gate == "browser-automation" and "`browser_`" in rows[gate]
        )
