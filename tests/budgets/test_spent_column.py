"""The SPENT column of instances (TUI and `instances list`): today's tokens and cost."""

from __future__ import annotations

from datetime import UTC, datetime

from k8sclaw.render import WIRE_RENDERERS, renderer_for
from k8sclaw_protocol import ClawInstance, budgets

NOW = datetime(2026, 12, 5, 15, 30, tzinfo=UTC)


def _instance(tokens: int) -> dict[str, object]:
    cost = budgets.run_cost(budgets.price_for("openai", "gpt-4o"), tokens, 0)
    return {
        "apiVersion": "k8sclaw.io/v1alpha1",
        "kind": "ClawInstance",
        "metadata": {"name": "alice", "namespace": "a"},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}},
        "status": {"spend": budgets.add(None, cost, NOW).to_wire()},
    }


def _spent(wire: dict[str, object], now: datetime) -> tuple[str, str]:
    model = renderer_for(ClawInstance)
    index = model.headers(wide=False).index("SPENT")
    from_model = model.row(ClawInstance.from_wire(wire), wide=False, now=now)[index]
    from_wire = WIRE_RENDERERS["ClawInstance"].row(wire, wide=False, now=now)[index]
    return from_model, from_wire


def test_spent_shows_today_and_agrees_between_renderers() -> None:
    assert _spent(_instance(100_000), NOW) == ("100000 $0.25", "100000 $0.25")
    assert _spent(_instance(15), NOW) == ("15 <$0.01", "15 <$0.01")
    tomorrow = datetime(2026, 12, 6, 0, 1, tzinfo=UTC)
    assert _spent(_instance(100_000), tomorrow) == ("0", "0")
