"""`k8sclaw budgets` against the harness API: spent/limit per budget and instance."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import kubernetes
import pytest
from click.testing import CliRunner, Result

from k8sclaw.cli import _budgets, cli
from k8sclaw_protocol import budgets, names
from tests.harness.kube import KubeEnv

NOW = datetime(2026, 12, 5, 15, 30, tzinfo=UTC)


def k8sclaw(kube: KubeEnv, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--kubeconfig", str(kube.kubeconfig)])


def _create(kube: KubeEnv, plural: str, kind: str, name: str, spec: dict[str, Any]) -> None:
    body = {
        "apiVersion": names.GROUP_VERSION,
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }
    kubernetes.client.CustomObjectsApi(kube.api_client).create_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, plural, body
    )


def _spent(kube: KubeEnv, name: str, tokens: int, model: str) -> None:
    cost = budgets.run_cost(budgets.price_for("openai", model), tokens, 0)
    spend = budgets.add(None, cost, NOW).to_wire()
    kubernetes.client.CustomObjectsApi(kube.api_client).patch_namespaced_custom_object_status(
        names.GROUP,
        names.API_VERSION,
        kube.namespace,
        "clawinstances",
        name,
        {"status": {"spend": spend}},
    )


@pytest.fixture
def seeded(kube: KubeEnv, monkeypatch: pytest.MonkeyPatch) -> KubeEnv:
    monkeypatch.setattr(_budgets, "_now", lambda: NOW)
    limits = {
        "run": {"tokens": 200},
        "instanceDaily": {"tokens": 1000},
        "namespaceMonthly": {"cost": "1.00"},
    }
    _create(kube, "clawpolicies", "ClawPolicy", "capped", {"budgets": limits})
    agents = {"default": {"model": "gpt-4o"}}
    _create(
        kube, "clawinstances", "ClawInstance", "alice", {"agents": agents, "policyRef": "capped"}
    )
    _create(kube, "clawinstances", "ClawInstance", "bob", {"agents": agents})
    _spent(kube, "alice", 250, "gpt-4o")  # 250 * 2.50 / 1M = 0.000625 USD
    _spent(kube, "bob", 100_000, "gpt-4o")  # 0.25 USD, counts in the namespace total
    return kube


def test_table_shows_spent_limit_percent_and_reset(seeded: KubeEnv) -> None:
    result = k8sclaw(seeded, "budgets", "-n", seeded.namespace)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "INSTANCE   BUDGET                  SPENT                 LIMIT         USED   RESETS",
        "alice      instanceDaily.tokens    250                   1000 tokens   25%    "
        "2026-12-06T00:00:00Z",
        "alice      namespaceMonthly.cost   0.250625              1.00 USD      25%    "
        "2027-01-01T00:00:00Z",
        "alice      run.tokens              -                     200 tokens    -      per run",
        "bob        -                       100000 tokens today   none          -      -",
    ]


def test_json_and_all_namespaces(seeded: KubeEnv) -> None:
    result = k8sclaw(seeded, "budgets", "-A", "-o", "json")
    assert result.exit_code == 0, result.output
    items = [i for i in json.loads(result.stdout)["items"] if i["namespace"] == seeded.namespace]
    daily = next(i for i in items if i["budget"] == "budgets.instanceDaily.tokens")
    assert daily == {
        "namespace": seeded.namespace,
        "instance": "alice",
        "policy": "capped",
        "budget": "budgets.instanceDaily.tokens",
        "spent": "250",
        "limit": "1000",
        "unit": "tokens",
        "percent": 25,
        "resetsAt": "2026-12-06T00:00:00Z",
    }
    wide = k8sclaw(seeded, "budgets", "-A", "-o", "wide")
    assert wide.stdout.splitlines()[0].split() == [
        "NAMESPACE",
        "INSTANCE",
        "BUDGET",
        "SPENT",
        "LIMIT",
        "USED",
        "RESETS",
        "POLICY",
    ]
