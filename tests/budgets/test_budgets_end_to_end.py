"""Budgets through the whole harness: the real controller, the process kubelet running
the agent, the scripted LLM reporting usage (10 prompt + 5 completion tokens a turn), real
NATS, and a virtual clock for the day boundary (issue #17 acceptance)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kubernetes
import pytest

from tests.controllers.manager import _harness
from tests.controllers.manager._fakeclock import FakeClock
from tests.controllers.manager._harness import create, phase, run_body, wait_run
from tests.controllers.manager.test_end_to_end import setup_instance, terminal
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, calls, text, tool

pytestmark = pytest.mark.slow
START = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
TURN_COST = "0.000075"
"""gpt-4o at 2.50/10.00 USD per million: 10 prompt + 5 completion tokens."""


async def spend_reaches(kube: KubeEnv, period: str, tokens: int) -> dict[str, Any]:
    """Wait until the instance's status.spend.<period>.totalTokens is `tokens`."""

    def reached(obj: dict[str, Any]) -> bool:
        spend = (obj.get("status") or {}).get("spend") or {}
        return bool((spend.get(period) or {}).get("totalTokens") == tokens)

    found: dict[str, Any] = await _harness.wait_for(
        _harness.custom(kube).list_namespaced_custom_object,
        reached,
        60,
        group=_harness.GROUP,
        version=_harness.VERSION,
        namespace=kube.namespace,
        plural="clawinstances",
    )
    return found["status"]["spend"]  # type: ignore[no-any-return]


async def run_to_end(kube: KubeEnv, name: str, model: dict[str, Any]) -> dict[str, Any]:
    create(kube, "agentruns", run_body(name, model=model))
    return await wait_run(kube, name, terminal, within=120)


def instance_events(kube: KubeEnv, reason: str) -> list[Any]:
    listed = kubernetes.client.CoreV1Api(kube.api_client).list_namespaced_event(kube.namespace)
    return [
        e for e in listed.items if e.reason == reason and e.involved_object.kind == "ClawInstance"
    ]


async def test_runs_start_until_the_daily_budget_is_spent_then_are_refused(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    model = setup_instance(kube, llm, budgets={"instanceDaily": {"tokens": 30}})
    llm.script(text("one"), text("two"), text("three"), text("next day"))
    clock = FakeClock(START)
    settings = _harness.settings_for(kube, **nats.controller_settings())
    async with _harness.running(settings, clock):
        first = await run_to_end(kube, "r1", model)
        assert phase(first) == "Succeeded", first["status"]
        assert first["status"]["cost"] == {
            "inputTokens": 10,
            "outputTokens": 5,
            "totalTokens": 15,
            "cost": TURN_COST,
            "currency": "USD",
            "priced": True,
        }
        await spend_reaches(kube, "today", 15)
        assert phase(await run_to_end(kube, "r2", model)) == "Succeeded"
        spend = await spend_reaches(kube, "today", 30)
        assert spend["today"]["cost"] == "0.000150"
        assert spend["today"]["start"] == "2026-12-05T00:00:00Z"

        refused = await run_to_end(kube, "r3", model)
        assert phase(refused) == "Failed"
        budget = [c for c in refused["status"]["conditions"] if c["type"] == "BudgetExceeded"]
        assert budget and budget[0]["status"] == "True", refused["status"]
        assert budget[0]["message"] == (
            "ClawInstance alice: budgets.instanceDaily.tokens is spent (30 of 30 tokens); "
            "it resets at 2026-12-06T00:00:00Z"
        )
        assert llm.remaining == 2  # the refused run never reached the model

        for reason in ("BudgetWarning", "BudgetExceeded"):
            await _harness.wait_for(
                kubernetes.client.CoreV1Api(kube.api_client).list_namespaced_event,
                lambda e, r=reason: e.reason == r and e.involved_object.kind == "ClawInstance",
                namespace=kube.namespace,
            )

        clock.set(datetime(2026, 12, 6, 0, 0, 1, tzinfo=UTC))  # a new day: the budget resets
        assert phase(await run_to_end(kube, "r4", model)) == "Succeeded"
        spend = await spend_reaches(kube, "today", 15)
        assert spend["today"]["start"] == "2026-12-06T00:00:00Z"
        assert spend["month"]["totalTokens"] == 45
    warned = instance_events(kube, "BudgetWarning")
    full = instance_events(kube, "BudgetExceeded")
    assert len(warned) == len(full) == 1, (warned, full)  # once per period
    assert (warned[0].count or 1) == (full[0].count or 1) == 1
    assert "budgets.instanceDaily.tokens at 100% (30 of 30 tokens)" in full[0].message


async def test_a_run_stops_its_loop_at_its_per_run_cap_and_says_so(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    model = setup_instance(kube, llm, budgets={"run": {"tokens": 20}})
    llm.script(
        calls(tool("write_file", path="a.txt", content="first"), say="working on it"),
        calls(tool("write_file", path="b.txt", content="second")),
        text("this answer is never asked for"),
    )
    settings = _harness.settings_for(kube, **nats.controller_settings())
    async with _harness.running(settings, FakeClock(START)):
        run = await run_to_end(kube, "capped", model)
    status = run["status"]
    assert phase(run) == "Failed", status
    assert status["error"] == (
        "the run stopped at its budget: budgets.run.tokens of 20 tokens reached (30 used)"
    )
    assert status["result"] == "working on it"
    reasons = {c["type"]: c["reason"] for c in status["conditions"]}
    assert reasons["Failed"] == reasons["BudgetExceeded"] == "BudgetExceeded"
    assert status["cost"]["totalTokens"] == 30
    assert llm.remaining == 1  # the loop stopped before a third model call
