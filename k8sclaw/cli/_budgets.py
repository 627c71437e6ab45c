"""`k8sclaw budgets [-n NS] [-A] [-o table|wide|json|yaml]`: spent/limit per instance.

One row per budget in force on an instance (its own `spec.budgets` over its policy's):
what is spent this period against the limit, the percentage and when it resets. An
instance without budgets still shows what it spent today. Read only: the figures are the
controller's `status.spend` (the namespace's monthly total is summed here, as the
controller sums it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from k8sclaw.cli import _common, _output

if TYPE_CHECKING:
    from k8sclaw_protocol import ClawInstance, ClawPolicy

HEADERS = ["INSTANCE", "BUDGET", "SPENT", "LIMIT", "USED", "RESETS"]


@click.command("budgets")
@_common.cluster_options(all_namespaces=True)
@click.option(
    "-o",
    "--output",
    type=click.Choice(("table", "wide", "json", "yaml")),
    default="table",
    show_default=True,
    help="Output format (wide adds the policy).",
)
@_common.translating
def budgets(target: _common.Target, output: str) -> None:
    """Spend against each budget of each instance (today, this month, per run)."""
    from k8sclaw_protocol import ClawInstance, ClawPolicy

    kube = target.kube()
    instances = sorted(
        kube.list(ClawInstance, target.list_ns()), key=lambda i: (i.namespace, i.name)
    )
    policies = {(p.namespace, p.name): p for p in kube.list(ClawPolicy, target.list_ns())}
    rows = [row for inst in instances for row in budget_rows(inst, instances, policies, _now())]
    if output in ("json", "yaml"):
        body = {"apiVersion": "v1", "kind": "List", "items": rows}
        text = json.dumps(body, indent=2) + "\n" if output == "json" else _output.dump_yaml(body)
        click.echo(text, nl=False)
        return
    wide = output == "wide"
    headers = [*HEADERS, "POLICY"] if wide else HEADERS
    cells = [_cells(row, wide) for row in rows]
    spaces = [row["namespace"] for row in rows] if target.all_namespaces else None
    _output._print_rows("budgets", headers, cells, spaces)


def _now() -> datetime:
    return datetime.now(UTC)


def budget_rows(
    instance: ClawInstance,
    everyone: list[ClawInstance],
    policies: dict[tuple[str, str], ClawPolicy],
    now: datetime,
) -> list[dict[str, Any]]:
    """The rows of one instance: one per limit in force, else one with today's spend."""
    from k8sclaw_protocol import budgets

    ref = instance.spec.policy_ref
    policy = policies.get((instance.namespace, ref)) if ref else None
    limits = budgets.merged(policy.spec.budgets if policy else None, instance.spec.budgets)
    spend = instance.status.spend if instance.status else None
    base = {"namespace": instance.namespace, "instance": instance.name, "policy": ref or ""}
    namespace = None
    if limits is not None and limits.namespace_monthly is not None:
        same = [
            i.status.spend if i.status else None
            for i in everyone
            if i.namespace == instance.namespace
        ]
        namespace = budgets.month_total(same, now)
    rows = [
        {
            **base,
            "budget": u.budget,
            "spent": budgets.amount(u.used, u.unit),
            "limit": budgets.amount(u.limit, u.unit),
            "unit": u.unit,
            "percent": int(u.percent),
            "resetsAt": u.resets_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for u in (budgets.usages(limits, spend, now, namespace) if limits else [])
    ]
    rows += _run_rows(base, limits)
    if not rows:
        today = budgets.current(spend, now).today
        tokens = today.total_tokens if today else 0
        rows.append({**base, "budget": "", "spent": str(tokens), "unit": "tokens today"})
    return rows


def _run_rows(base: dict[str, Any], limits: Any) -> list[dict[str, Any]]:
    cap = limits.run if limits is not None else None
    if cap is None:
        return []
    found = []
    if cap.tokens is not None:
        found.append(
            {**base, "budget": "budgets.run.tokens", "limit": str(cap.tokens), "unit": "tokens"}
        )
    if cap.cost is not None:
        found.append(
            {**base, "budget": "budgets.run.cost", "limit": cap.cost, "unit": limits.currency}
        )
    return found


def _cells(row: dict[str, Any], wide: bool) -> list[str]:
    unit = row.get("unit", "")
    limit = f"{row['limit']} {unit}" if "limit" in row else "none"
    spent = row.get("spent")
    cells = [
        row["instance"],
        row["budget"].removeprefix("budgets.") or "-",
        f"{spent} {unit}" if spent is not None and "limit" not in row else (spent or "-"),
        limit,
        f"{row['percent']}%" if "percent" in row else "-",
        row.get("resetsAt") or ("per run" if row["budget"].startswith("budgets.run.") else "-"),
    ]
    return [*cells, row["policy"] or "-"] if wide else cells
