"""The price table, period arithmetic and the budget checks (pure; no cluster)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from k8sclaw_protocol import Budgets, InstanceSpend, ModelPrice, budgets

DAY1 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def test_shipped_table_prices_gpt4o_mini() -> None:
    price = budgets.price_for("openai", "gpt-4o-mini")
    assert price is not None
    # 0.15 USD/M in, 0.60 USD/M out: 1000 in + 500 out = 0.00015 + 0.0003
    assert price.cost(1000, 500) == Decimal("0.000450")
    cost = budgets.run_cost(price, 1000, 500)
    assert (cost.total_tokens, cost.cost, cost.priced) == (1500, "0.000450", True)


def test_prefix_match_self_hosted_and_unknown() -> None:
    assert budgets.price_for("anthropic", "claude-sonnet-4-20250514") == budgets.Price(
        Decimal("3.00"), Decimal("15.00")
    )
    assert budgets.price_for("ollama", "llama3.1:8b") == budgets.Price(Decimal(0), Decimal(0))
    unknown = budgets.run_cost(budgets.price_for("openai-compatible", "mine"), 10, 10)
    assert (unknown.cost, unknown.priced) == ("0", False)


def test_instance_override_wins_over_the_table() -> None:
    mine = [ModelPrice(model="gpt-4o*", input="0", output="0")]
    assert budgets.price_for("openai", "gpt-4o", mine) == budgets.Price(Decimal(0), Decimal(0))
    other = [ModelPrice(provider="anthropic", model="gpt-4o", input="1", output="1")]
    assert budgets.price_for("openai", "gpt-4o", other) == budgets.Price(
        Decimal("2.50"), Decimal("10.00")
    )


def test_day_and_month_reset() -> None:
    spend = budgets.add(None, budgets.run_cost(None, 600, 400), DAY1)
    assert spend.today is not None and spend.today.total_tokens == 1000
    later_same_day = datetime(2026, 12, 5, 23, 59, 59, tzinfo=UTC)
    assert budgets.current(spend, later_same_day).today.total_tokens == 1000  # type: ignore[union-attr]
    next_day = budgets.current(spend, datetime(2026, 12, 6, 0, 0, tzinfo=UTC))
    assert next_day.today.total_tokens == 0  # type: ignore[union-attr]
    assert next_day.month.total_tokens == 1000  # type: ignore[union-attr]
    next_month = budgets.current(spend, datetime(2027, 1, 1, tzinfo=UTC))
    assert next_month.month.total_tokens == 0  # type: ignore[union-attr]
    assert budgets.next_reset("month", DAY1) == datetime(2027, 1, 1, tzinfo=UTC)
    assert budgets.next_reset("day", DAY1) == datetime(2026, 12, 6, tzinfo=UTC)


def test_exceeded_names_the_budget_and_its_reset() -> None:
    limits = Budgets.model_validate({"instanceDaily": {"tokens": 1000}})
    spend = budgets.add(None, budgets.run_cost(None, 999, 0), DAY1)
    assert budgets.exceeded(limits, spend, DAY1) is None
    spend = budgets.add(spend, budgets.run_cost(None, 1, 0), DAY1)
    message = budgets.exceeded(limits, spend, DAY1)
    assert message == (
        "budgets.instanceDaily.tokens is spent (1000 of 1000 tokens); "
        "it resets at 2026-12-06T00:00:00Z"
    )
    assert budgets.exceeded(limits, spend, datetime(2026, 12, 6, tzinfo=UTC)) is None


def test_cost_budget_and_namespace_total() -> None:
    limits = Budgets.model_validate({"namespaceMonthly": {"cost": "0.01"}})
    price = budgets.price_for("openai", "gpt-4o")
    a = budgets.add(None, budgets.run_cost(price, 2000, 500), DAY1)  # 0.005 + 0.005
    b = InstanceSpend()
    total = budgets.month_total([a, b, None], DAY1)
    assert total.cost == "0.010000"
    message = budgets.exceeded(limits, None, DAY1, total)
    assert message is not None and message.startswith("budgets.namespaceMonthly.cost is spent")
    assert "resets at 2027-01-01T00:00:00Z" in message


def test_alerts_once_per_period_at_80_and_100() -> None:
    limits = Budgets.model_validate({"instanceDaily": {"tokens": 100}})
    spend = budgets.add(None, budgets.run_cost(None, 85, 0), DAY1)
    alerts = budgets.new_alerts(limits, spend, DAY1)
    assert [p for _, _, p in alerts] == [80]
    spend.alerted += [m for m, _, _ in alerts]
    assert budgets.new_alerts(limits, spend, DAY1) == []
    spend = budgets.add(spend, budgets.run_cost(None, 20, 0), DAY1)
    assert [p for _, _, p in budgets.new_alerts(limits, spend, DAY1)] == [100]
    tomorrow = datetime(2026, 12, 6, 1, tzinfo=UTC)
    assert budgets.current(spend, tomorrow).alerted == []


def test_instance_budgets_override_policy_per_key() -> None:
    policy = Budgets.model_validate({"run": {"tokens": 10}, "instanceDaily": {"tokens": 100}})
    mine = Budgets.model_validate({"instanceDaily": {"tokens": 5}})
    chosen = budgets.merged(policy, mine)
    assert chosen is not None and chosen.run is not None and chosen.instance_daily is not None
    assert (chosen.run.tokens, chosen.instance_daily.tokens) == (10, 5)


def test_run_caps_env() -> None:
    limits = Budgets.model_validate({"run": {"tokens": 500, "cost": "0.50"}})
    env = budgets.run_caps(limits, budgets.price_for("openai", "gpt-4o-mini"))
    assert env == {
        "BUDGET_TOKENS": "500",
        "BUDGET_COST": "0.50",
        "BUDGET_PRICE_INPUT": "0.15",
        "BUDGET_PRICE_OUTPUT": "0.60",
    }
    assert budgets.run_caps(None, None) == {}
