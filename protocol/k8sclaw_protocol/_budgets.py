"""Spend budgets: limits in tokens and currency, the price table, spend per period.

One definition shared by the webhook (refuses a run when a budget is already spent), the
controller (refuses at dispatch, accumulates `ClawInstance.status.spend`, posts 80%/100%
Events) and the CLI/TUI (spent/limit). Periods are calendar days and months in UTC; a
period's spend starts again from zero at its first instant. Money is a decimal string
(never a float: "5.00" must stay 5.00), in `currency` (USD: the price table's).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, WithJsonSchema

from k8sclaw_protocol._base import CRModel

MONEY_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,6})?$"
Money = Annotated[str, Field(pattern=MONEY_PATTERN, max_length=16)]
"""A non-negative decimal amount, e.g. "5.00" (at most 6 decimals)."""
Currency = Annotated[Literal["USD"], WithJsonSchema({"type": "string", "enum": ["USD"]})]
"""The one currency of the price table (an enum, not `const`: CRD schemas lack it)."""
MILLION = Decimal(1_000_000)
CENT_PLACES = Decimal("0.000001")
WARN_PERCENT, FULL_PERCENT = 80, 100
BudgetKey = Literal["run", "instanceDaily", "instanceMonthly", "namespaceMonthly"]
PERIOD_OF: dict[str, Literal["run", "day", "month"]] = {
    "run": "run",
    "instanceDaily": "day",
    "instanceMonthly": "month",
    "namespaceMonthly": "month",
}


class BudgetLimit(CRModel):
    """A ceiling in tokens, in currency, or both (whichever is reached first)."""

    tokens: int | None = Field(default=None, ge=1, le=10**12)
    """Most tokens (prompt plus completion)."""
    cost: Money | None = None
    """Most spend in the budget's currency, a decimal string such as "5.00"."""


class Budgets(CRModel):
    """Spend ceilings; a run that would start over one is refused (`BudgetExceeded`)."""

    currency: Currency = "USD"
    """Currency of every cost limit (the price table's)."""
    run: BudgetLimit | None = None
    """Per run: the agent stops its loop when its own usage reaches this."""
    instance_daily: BudgetLimit | None = None
    """Per instance per UTC day."""
    instance_monthly: BudgetLimit | None = None
    """Per instance per UTC calendar month."""
    namespace_monthly: BudgetLimit | None = None
    """All instances of the namespace together per UTC calendar month."""


class ModelPrice(CRModel):
    """Price of one model, overriding the shipped table (e.g. zero for self-hosted)."""

    provider: str | None = Field(default=None, max_length=63)
    """Provider it applies to; any provider when unset."""
    model: str = Field(min_length=1, max_length=253)
    """Model id; a trailing "*" matches every id with that prefix."""
    input: Money
    """USD per million prompt tokens."""
    output: Money
    """USD per million completion tokens."""


class SpendPeriod(CRModel):
    """Usage summed over one period."""

    start: datetime
    """First instant of the period (UTC midnight, or the first of the month)."""
    input_tokens: int = Field(default=0, ge=0)
    """Prompt tokens."""
    output_tokens: int = Field(default=0, ge=0)
    """Completion tokens."""
    total_tokens: int = Field(default=0, ge=0)
    """Prompt plus completion tokens."""
    cost: Money = "0"
    """Cost of the priced runs."""


class InstanceSpend(CRModel):
    """What an instance spent today and this month (written by the controller)."""

    currency: Currency = "USD"
    """Currency of `cost`."""
    today: SpendPeriod | None = None
    """The current UTC day."""
    month: SpendPeriod | None = None
    """The current UTC calendar month."""
    alerted: list[str] = Field(default_factory=list, max_length=64)
    """Budget thresholds already announced by an Event this period ("key@percent@start")."""


class RunCost(CRModel):
    """Tokens and cost of one run, from its usage and the price table."""

    input_tokens: int = Field(default=0, ge=0)
    """Prompt tokens."""
    output_tokens: int = Field(default=0, ge=0)
    """Completion tokens."""
    total_tokens: int = Field(default=0, ge=0)
    """Prompt plus completion tokens."""
    cost: Money = "0"
    """Cost in `currency` (0 when the model has no price)."""
    currency: Currency = "USD"
    """Currency of `cost`."""
    priced: bool = True
    """False when the model has no price (neither the table nor the instance names it)."""


@dataclass(frozen=True)
class Price:
    """USD per million prompt and completion tokens."""

    input: Decimal
    output: Decimal

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        """What this many tokens cost, rounded to a millionth."""
        total = (
            Decimal(input_tokens) * self.input + Decimal(output_tokens) * self.output
        ) / MILLION
        return total.quantize(CENT_PLACES)


@functools.cache
def price_table() -> dict[str, dict[str, Price]]:
    """The shipped table (`prices.yaml`): provider -> model pattern -> price."""
    text = resources.files("k8sclaw_protocol").joinpath("prices.yaml").read_text("utf-8")
    raw: dict[str, dict[str, dict[str, Any]]] = yaml.safe_load(text)
    return {
        provider: {
            model: Price(Decimal(str(p["input"])), Decimal(str(p["output"])))
            for model, p in models.items()
        }
        for provider, models in raw.items()
    }


def _match(prices: dict[str, Price], model: str) -> Price | None:
    if model in prices:
        return prices[model]
    prefixes = [p for p in prices if p.endswith("*") and model.startswith(p[:-1])]
    return prices[max(prefixes, key=len)] if prefixes else None


def price_for(provider: str, model: str, overrides: list[ModelPrice] | None = None) -> Price | None:
    """The price of `model`: the instance's override first, then the shipped table."""
    mine = {
        o.model: Price(Decimal(o.input), Decimal(o.output))
        for o in overrides or []
        if o.provider in (None, provider)
    }
    return _match(mine, model) or _match(price_table().get(provider, {}), model)


def run_cost(price: Price | None, input_tokens: int, output_tokens: int) -> RunCost:
    """The `status.cost` of a run that used these tokens."""
    return RunCost(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
        cost=str(price.cost(input_tokens, output_tokens)) if price else "0",
        priced=price is not None,
    )


def merged(policy: Budgets | None, instance: Budgets | None) -> Budgets | None:
    """The budgets in force: the instance's own limits override the policy's, per key."""
    if instance is None or policy is None:
        return instance or policy
    fields = ("run", "instance_daily", "instance_monthly", "namespace_monthly")
    chosen = {f: getattr(instance, f) or getattr(policy, f) for f in fields}
    return Budgets(currency=instance.currency, **chosen)


def day_start(now: datetime) -> datetime:
    """UTC midnight of `now`'s day."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    """UTC midnight of the first day of `now`'s month."""
    return day_start(now).replace(day=1)


def next_reset(period: str, now: datetime) -> datetime:
    """When the current day or month ends (its budget starts again)."""
    if period == "day":
        return day_start(now) + timedelta(days=1)
    start = month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


def _current(period: SpendPeriod | None, start: datetime) -> SpendPeriod:
    if period is not None and period.start.astimezone(UTC) == start:
        return period
    return SpendPeriod(start=start)


def current(spend: InstanceSpend | None, now: datetime) -> InstanceSpend:
    """The spend as of `now`: a day or month that has ended reads as zero."""
    spend = spend or InstanceSpend()
    today, month = _current(spend.today, day_start(now)), _current(spend.month, month_start(now))
    starts = {_stamp(today.start), _stamp(month.start)}
    alerted = [a for a in spend.alerted if a.rsplit("@", 1)[-1] in starts]
    return InstanceSpend(currency=spend.currency, today=today, month=month, alerted=alerted)


def _added(period: SpendPeriod, cost: RunCost) -> SpendPeriod:
    return SpendPeriod(
        start=period.start,
        input_tokens=period.input_tokens + cost.input_tokens,
        output_tokens=period.output_tokens + cost.output_tokens,
        total_tokens=period.total_tokens + cost.total_tokens,
        cost=str(Decimal(period.cost) + Decimal(cost.cost)),
    )


def add(spend: InstanceSpend | None, cost: RunCost, now: datetime) -> InstanceSpend:
    """The spend after a run that cost `cost` ended at `now`."""
    fresh = current(spend, now)
    assert fresh.today is not None and fresh.month is not None
    fresh.today, fresh.month = _added(fresh.today, cost), _added(fresh.month, cost)
    return fresh


def month_total(spends: list[InstanceSpend | None], now: datetime) -> SpendPeriod:
    """This month's spend of several instances together (a namespace's)."""
    total = SpendPeriod(start=month_start(now))
    for spend in spends:
        month = current(spend, now).month
        if month is not None:
            total = _added(total, RunCost(**month.model_dump(exclude={"start"})))
    return total


@dataclass(frozen=True)
class Usage:
    """How much of one limit (tokens or cost) of one budget is used."""

    budget: str
    """e.g. budgets.instanceDaily.tokens"""
    used: Decimal
    limit: Decimal
    unit: str
    resets_at: datetime

    @property
    def percent(self) -> Decimal:
        """Used as a percentage of the limit."""
        return self.used * 100 / self.limit

    def describe(self) -> str:
        """e.g. '1200 of 1000 tokens'."""
        return f"{amount(self.used, self.unit)} of {amount(self.limit, self.unit)} {self.unit}"

    def spent(self) -> str:
        """Why it refuses a run: 'is spent (1000 of 1000 tokens); it resets at ...'."""
        return f"is spent ({self.describe()}); it resets at {_stamp(self.resets_at)}"


def amount(value: Decimal, unit: str) -> str:
    """Tokens as an integer; money with at least two decimals (0.250625, 1.00)."""
    if unit == "tokens":
        return str(int(value))
    exact = value.normalize()
    exponent = exact.as_tuple().exponent
    short = isinstance(exponent, int) and exponent > -2
    return f"{exact.quantize(Decimal('0.01')) if short else exact:f}"


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usages(
    budgets: Budgets, spend: InstanceSpend | None, now: datetime, namespace: SpendPeriod | None
) -> list[Usage]:
    """Every period limit of `budgets` with what is used against it as of `now`."""
    fresh = current(spend, now)
    periods: list[tuple[str, BudgetLimit | None, SpendPeriod | None]] = [
        ("instanceDaily", budgets.instance_daily, fresh.today),
        ("instanceMonthly", budgets.instance_monthly, fresh.month),
        ("namespaceMonthly", budgets.namespace_monthly, namespace),
    ]
    found = []
    for key, limit, period in periods:
        if limit is None:
            continue
        used = period or SpendPeriod(start=month_start(now))
        resets = next_reset(PERIOD_OF[key], now)
        if limit.tokens is not None:
            tokens = Decimal(used.total_tokens)
            found.append(
                Usage(f"budgets.{key}.tokens", tokens, Decimal(limit.tokens), "tokens", resets)
            )
        if limit.cost is not None:
            cost, cap = Decimal(used.cost), Decimal(limit.cost)
            found.append(Usage(f"budgets.{key}.cost", cost, cap, budgets.currency, resets))
    return found


def first_spent(
    budgets: Budgets | None,
    spend: InstanceSpend | None,
    now: datetime,
    namespace: SpendPeriod | None = None,
) -> Usage | None:
    """The first budget that is fully spent as of `now`, or None."""
    if budgets is None:
        return None
    return next((u for u in usages(budgets, spend, now, namespace) if u.used >= u.limit), None)


def exceeded(
    budgets: Budgets | None,
    spend: InstanceSpend | None,
    now: datetime,
    namespace: SpendPeriod | None = None,
) -> str | None:
    """Why a run may not start now (a budget fully spent, and when it resets), or None."""
    usage = first_spent(budgets, spend, now, namespace)
    return f"{usage.budget} {usage.spent()}" if usage else None


def new_alerts(
    budgets: Budgets | None,
    spend: InstanceSpend,
    now: datetime,
    namespace: SpendPeriod | None = None,
) -> list[tuple[str, Usage, int]]:
    """Thresholds (80%, 100%) reached and not yet announced this period: (mark, usage,
    percent). The caller adds each mark to `spend.alerted` so it is announced once."""
    if budgets is None:
        return []
    found = []
    for usage in usages(budgets, spend, now, namespace):
        start = _stamp(day_start(now) if ".instanceDaily." in usage.budget else month_start(now))
        for percent in (WARN_PERCENT, FULL_PERCENT):
            mark = f"{usage.budget}@{percent}@{start}"
            if usage.percent >= percent and mark not in spend.alerted:
                found.append((mark, usage, percent))
    return found


def run_caps(budgets: Budgets | None, price: Price | None) -> dict[str, str]:
    """Environment telling the agent its per-run cap (BUDGET_TOKENS, BUDGET_COST and the
    prices it needs to reckon cost); empty when the run has no cap."""
    cap = budgets.run if budgets else None
    if cap is None:
        return {}
    env = {}
    if cap.tokens is not None:
        env["BUDGET_TOKENS"] = str(cap.tokens)
    if cap.cost is not None and price is not None:
        env["BUDGET_COST"] = cap.cost
        env["BUDGET_PRICE_INPUT"] = str(price.input)
        env["BUDGET_PRICE_OUTPUT"] = str(price.output)
    return env
