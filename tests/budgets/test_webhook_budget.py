"""The admission webhook refuses a new run of an instance whose budget is already spent
(real HTTPS server, in-memory source), naming the budget and when it resets."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from k8sclaw_controllers.webhook import Admission, _certs, _server
from k8sclaw_protocol import ClawInstance, ClawPolicy, budgets, names
from tests.policy._builders import policy_body, run_body
from tests.webhook._memory import MemorySource
from tests.webhook.test_server import NS, Webhook

NOW = datetime(2026, 12, 5, 15, 30, tzinfo=UTC)


def _instance(spent_tokens: int) -> ClawInstance:
    spend = budgets.add(None, budgets.run_cost(None, spent_tokens, 0), NOW)
    return ClawInstance.from_wire(
        {
            "metadata": {"name": "alpha", "namespace": NS},
            "spec": {"agents": {"default": {"model": "gpt-4o"}}, "policyRef": "default-policy"},
            "status": {"spend": spend.to_wire()},
        }
    )


@pytest.fixture
async def hook(tmp_path: Path) -> AsyncIterator[Webhook]:
    source = MemorySource()
    source.instances[(NS, "alpha")] = _instance(999)
    source.policies[(NS, "default-policy")] = ClawPolicy.from_wire(
        policy_body(budgets={"instanceDaily": {"tokens": 1000}})
    )
    bundle = _certs.generate(["127.0.0.1"])
    context = _certs.server_context(bundle, tmp_path / "tls")
    app = _server.build_app(Admission(source, clock=lambda: NOW))
    runner = await _server.start(app, "127.0.0.1", 0, context)
    trust = ssl.create_default_context(cadata=bundle.ca_cert.decode())
    async with httpx.AsyncClient(verify=trust) as client:
        yield Webhook(client, source, f"https://127.0.0.1:{runner.addresses[0][1]}")
    await runner.cleanup()


async def _review(hook: Webhook, **kw: Any) -> dict[str, Any]:
    return await hook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, run_body(**kw))


async def test_a_spent_daily_budget_refuses_new_runs_with_one_line(hook: Webhook) -> None:
    assert (await _review(hook))["allowed"]  # 999 of 1000: not spent yet
    hook.source.instances[(NS, "alpha")] = _instance(1000)
    response = await _review(hook)
    assert not response["allowed"]
    assert response["status"]["message"] == (
        'denied by ClawPolicy "default-policy" rule budgets.instanceDaily.tokens: '
        "ClawInstance alpha is spent (1000 of 1000 tokens); it resets at 2026-12-06T00:00:00Z"
    )


async def test_the_instance_override_wins_and_updates_are_not_refused(hook: Webhook) -> None:
    hook.source.instances[(NS, "alpha")] = _instance(1000)
    raised = hook.source.instances[(NS, "alpha")].model_copy(deep=True)
    raised.spec.budgets = budgets.Budgets.model_validate({"instanceDaily": {"tokens": 5000}})
    hook.source.instances[(NS, "alpha")] = raised
    assert (await _review(hook))["allowed"]
    hook.source.instances[(NS, "alpha")] = _instance(1000)
    update = await hook.review(
        names.WEBHOOK_PATH_VALIDATE_AGENTRUN, run_body(), operation="UPDATE", old=run_body()
    )
    assert update["allowed"]  # an existing run is not judged by the budget again


async def test_the_namespace_monthly_budget_sums_every_instance(hook: Webhook) -> None:
    hook.source.policies[(NS, "default-policy")] = ClawPolicy.from_wire(
        policy_body(budgets={"namespaceMonthly": {"tokens": 1500}})
    )
    other = _instance(499).model_copy(deep=True)
    other.metadata.name = "beta"
    hook.source.instances[(NS, "beta")] = other
    hook.source.instances[(NS, "alpha")] = _instance(1000)
    assert (await _review(hook))["allowed"]  # 1499 of 1500
    hook.source.instances[(NS, "beta")] = _instance(500)
    response = await _review(hook)
    assert response["status"]["message"] == (
        'denied by ClawPolicy "default-policy" rule budgets.namespaceMonthly.tokens: '
        "ClawInstance alpha is spent (1500 of 1500 tokens); it resets at 2027-01-01T00:00:00Z"
    )
