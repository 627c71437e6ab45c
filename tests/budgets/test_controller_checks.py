"""The controller's budget checks on its caches (no cluster): the namespace's monthly
total over every instance, the newest known spend, and the agent's per-run cap."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from k8sclaw_controllers.manager import Settings, _spend
from k8sclaw_controllers.manager._context import Context
from k8sclaw_controllers.manager._state import State
from k8sclaw_protocol import ClawInstance, ClawPolicy, budgets
from k8sclaw_sidecar.agent._settings import RunBudget
from tests.controllers.manager._fakeclock import FakeClock

NOW = datetime(2026, 12, 5, 10, tzinfo=UTC)
NS = "team-a"


def _body(name: str, tokens: int, **spec: Any) -> dict[str, Any]:
    spend = budgets.add(
        None, budgets.run_cost(budgets.price_for("openai", "gpt-4o"), tokens, 0), NOW
    )
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}, **spec},
        "status": {"spend": spend.to_wire()},
    }


def _context(clock: FakeClock, *bodies: dict[str, Any]) -> Context:
    ctx = Context(kube=None, settings=Settings(), state=State(), clock=clock)  # type: ignore[arg-type]
    for body in bodies:
        ctx.state.instances[(NS, body["metadata"]["name"])] = body
    return ctx


def test_the_namespace_month_sums_every_instance_and_names_the_budget() -> None:
    policy = ClawPolicy.from_wire(
        {
            "metadata": {"name": "p", "namespace": NS},
            "spec": {"budgets": {"namespaceMonthly": {"cost": "1.00"}}},
        }
    )
    alice, bob = _body("alice", 200_000, policyRef="p"), _body("bob", 199_999)  # 0.50 + 0.4999975
    ctx = _context(FakeClock(NOW), alice, bob)
    assert _spend.refusal(ctx, ClawInstance.from_wire(alice), policy) is None
    ctx.state.instances[(NS, "bob")] = _body("bob", 200_000)
    assert _spend.refusal(ctx, ClawInstance.from_wire(alice), policy) == (
        "ClawInstance alice: budgets.namespaceMonthly.cost is spent (1.00 of 1.00 USD); "
        "it resets at 2027-01-01T00:00:00Z"
    )
    ctx.clock.set(datetime(2027, 1, 1, tzinfo=UTC))  # type: ignore[attr-defined]
    assert _spend.refusal(ctx, ClawInstance.from_wire(alice), policy) is None


def test_this_process_own_write_counts_while_the_watch_lags() -> None:
    limits = {"instanceDaily": {"tokens": 100}}
    stale = _body("alice", 50, budgets=limits)
    ctx = _context(FakeClock(NOW), stale)
    assert _spend.refusal(ctx, ClawInstance.from_wire(stale), None) is None
    ctx.state.spend[(NS, "alice")] = budgets.add(
        None, budgets.run_cost(None, 100, 0), NOW
    ).to_wire()
    refused = _spend.refusal(ctx, ClawInstance.from_wire(stale), None)
    assert refused is not None and "budgets.instanceDaily.tokens is spent (100 of 100" in refused


@pytest.mark.parametrize(
    ("tokens", "cost", "usage", "reached"),
    [
        (100, None, (60, 39), None),
        (100, None, (60, 40), "budgets.run.tokens of 100 tokens reached (100 used)"),
        (None, Decimal("0.01"), (1000, 500), None),  # 0.0025 + 0.005
        (
            None,
            Decimal("0.01"),
            (2000, 500),
            "budgets.run.cost of 0.01 USD reached (0.010000 USD used)",
        ),
    ],
)
def test_the_agents_per_run_cap(
    tokens: int | None, cost: Decimal | None, usage: tuple[int, int], reached: str | None
) -> None:
    cap = RunBudget(
        tokens=tokens, cost=cost, price_input=Decimal("2.50"), price_output=Decimal("10")
    )
    assert cap.reached(*usage) == reached


def test_the_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_COST", "0.50")
    monkeypatch.setenv("BUDGET_PRICE_INPUT", "0.15")
    assert RunBudget.from_env() == RunBudget(cost=Decimal("0.50"), price_input=Decimal("0.15"))
    monkeypatch.setenv("BUDGET_COST", "-1")
    with pytest.raises(ValueError, match="BUDGET_COST must be a non-negative decimal"):
        RunBudget.from_env()
