"""`k8sclaw doctor`: one screen that says whether a run can work here, and what to run if not.

The checks live in `k8sclaw.doctor` (the TUI's /status shows the same); this module
connects, prints ✓/!/✗ lines (coloured only on a terminal) or JSON, and exits 1 on any ✗.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from k8sclaw.cli import _common

if TYPE_CHECKING:
    from k8sclaw.doctor import Finding

_COLOURS = {"ok": "green", "warn": "yellow", "fail": "red"}


@click.command("doctor")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.5, max=120),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="How long each API call may take.",
)
@_common.cluster_options()
def doctor(output: str, timeout: float, *, target: _common.Target) -> None:
    """Check everything a run needs: API, CRDs, control plane (Available, at this CLI's
    version), admission webhook answering, the namespace's instance Secrets, NATS seen
    from the controller. Each ✗ names the command that fixes it; exit 1 when any fails."""
    from k8sclaw import doctor as checks
    from k8sclaw.kube import KubeError

    context, namespace = target.context or "", target.namespace or ""
    try:
        kube = target.kube()
        context, namespace = kube.connection.context, target.ns()
        findings = checks.run(kube, namespace, timeout=timeout)
    except KubeError as exc:  # no kubeconfig, or a broken one: the one ✗
        findings = [checks.Finding("api", "fail", f"API: {exc}", exc.hint)]
    if output == "json":
        report = {
            "context": context,
            "namespace": namespace,
            "healthy": checks.healthy(findings),
            "checks": [f.to_dict() for f in findings],
        }
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print(findings, context, namespace)
    click.get_current_context().exit(0 if checks.healthy(findings) else 1)


def _print(findings: list[Finding], context: str, namespace: str) -> None:
    from k8sclaw.render import terminal_safe

    where = f"context {context or '?'}, namespace {namespace or '?'}"
    click.echo(terminal_safe(f"K8sClaw doctor · {where}"))
    for f in findings:
        click.echo(click.style(f.mark, fg=_COLOURS[f.verdict]) + " " + terminal_safe(f.text))
        if f.fix and f.verdict != "ok":
            click.echo("    fix: " + click.style(terminal_safe(f.fix), bold=True))
    from k8sclaw.doctor import summary

    click.echo(summary(findings))
