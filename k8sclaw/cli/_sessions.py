"""`k8sclaw sessions list|show`: conversations recorded by the API server, read through the
aggregated API with the user's own credentials (see `_transcripts`)."""

from __future__ import annotations

import click

from k8sclaw.cli import _common, _output, _transcripts
from k8sclaw.cli._errors import CliError
from k8sclaw.render import terminal_safe


@click.group("sessions")
def sessions() -> None:
    """List or show recorded sessions (conversations)."""


def _require(target: _common.Target) -> None:
    why = _transcripts.unavailable(target.kube())
    if why is not None:
        raise CliError(why, hint="install or upgrade K8sClaw (`k8sclaw install`), then retry")


@sessions.command("list")
@_common.cluster_options(all_namespaces=True)
@_common.translating
def list_sessions(target: _common.Target) -> None:
    """Sessions of the namespace (-A: every namespace you may list runs in)."""
    _require(target)
    items = _transcripts.sessions(target.kube(), target.list_ns())
    headers = ["NAMESPACE", "SESSION", "INSTANCE", "RUNS", "UPDATED"]
    rows = [
        [
            s["metadata"]["namespace"],
            terminal_safe(s["metadata"]["name"]),
            s.get("instance") or "",
            str(s.get("runCount", 0)),
            str(s.get("updated") or ""),
        ]
        for s in items
    ]
    if not rows:
        click.echo("No sessions found.", err=True)
        return
    click.echo(_output.plain_table(headers, rows), nl=False)


@sessions.command("show")
@click.argument("key")
@_common.cluster_options()
@_common.translating
def show(key: str, target: _common.Target) -> None:
    """The runs of session KEY and its conversation, tool calls and results as entries."""
    _require(target)
    found = _transcripts.session(target.kube(), target.ns(), key)
    click.echo(f"session {terminal_safe(key)} (instance {found.get('instance') or '-'})")
    click.echo(f"runs: {', '.join(found.get('runs') or []) or '-'}")
    printer = _transcripts.TranscriptPrinter()
    for event in found.get("events") or []:
        if event.get("kind") == "task":
            printer.close()
            click.echo(f"\n» {terminal_safe(str((event.get('data') or {}).get('task', '')))}")
        else:
            printer.show(event)
    printer.close()
