"""The ClawPolicy presets `k8sclaw install` ships must pass the webhook's own validation,
or re-applying one (or any run under it) is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from k8sclaw_controllers.policy import evaluate_run, validate_policy
from k8sclaw_protocol import AgentRun, ClawPolicy

PRESETS = Path(__file__).resolve().parents[2] / "k8sclaw/manifests/presets/policies.yaml"
DOCS = [doc for doc in yaml.safe_load_all(PRESETS.read_text()) if doc]


@pytest.mark.parametrize("doc", DOCS, ids=[d["metadata"]["name"] for d in DOCS])
def test_preset_passes_policy_validation(doc: dict[str, Any]) -> None:
    assert [str(v) for v in validate_policy(ClawPolicy.from_wire(doc))] == []


@pytest.mark.parametrize("doc", DOCS, ids=[d["metadata"]["name"] for d in DOCS])
def test_a_plain_run_is_admitted_under_every_preset(doc: dict[str, Any]) -> None:
    """A preset no run can pass is useless: a plain task with the sandbox the policy asks
    for (and nothing else) must be admitted under each one."""
    policy = ClawPolicy.from_wire(doc)
    run = AgentRun.from_wire(
        {
            "apiVersion": "k8sclaw.io/v1alpha1",
            "kind": "AgentRun",
            "metadata": {"name": "plain", "namespace": "default"},
            "spec": {
                "instanceRef": "alice",
                "sessionKey": "s",
                "task": "summarise the README",
                "model": {"provider": "openai", "model": "gpt-4o"},
                "sandbox": {"enabled": bool(doc["spec"]["sandboxPolicy"]["required"])},
            },
        }
    )
    decision = evaluate_run(run, policy, running_in_instance=0, parent_depth=0)
    assert decision.allowed, [str(v) for v in decision.violations]
