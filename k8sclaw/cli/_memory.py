"""`k8sclaw memory show|edit|clear INSTANCE`: the instance's memory document.

The memory lives in ConfigMap `<instance>-memory` (key `MEMORY.md`); every run of the
instance reads it into its system prompt, and agents change it through the controller
(`update_memory`, cleaned and capped there). Here a person reads or changes it directly:
`edit` opens it in $EDITOR (as `kubectl edit` does) and writes it back only if it still
has the version that was opened, so an agent's update made meanwhile is never lost.
"""

from __future__ import annotations

from typing import Any

import click

from k8sclaw.cli import _common
from k8sclaw.cli._errors import CliError
from k8sclaw.render import terminal_safe

EMPTY = "# Memory\n\nNo memories yet.\n"
"""What `clear` leaves (the same placeholder a new instance starts with)."""


@click.group("memory")
def memory() -> None:
    """Show, edit or clear an instance's memory (carried into every run's system prompt)."""


def _configmap(target: _common.Target, instance: str) -> dict[str, Any]:
    from k8sclaw.kube import NotFoundError
    from k8sclaw_protocol import names

    name = names.memory_configmap_name(instance)
    try:
        found: dict[str, Any] = target.kube().get_raw("v1", "ConfigMap", name, target.ns())
    except NotFoundError as exc:
        raise CliError(
            f"instance {instance!r} has no memory in namespace {target.ns()} "
            f"(ConfigMap {name} not found)",
            hint="check the name with `k8sclaw instances list`; memory.enabled must be true",
            exit_code=exc.exit_code,
        ) from exc
    return found


def _text(configmap: dict[str, Any]) -> str:
    from k8sclaw_protocol import names

    return str((configmap.get("data") or {}).get(names.MEMORY_KEY) or "")


def _write(target: _common.Target, configmap: dict[str, Any], text: str) -> None:
    """Replace the document if the ConfigMap is still the version that was read."""
    from k8sclaw.kube import ConflictError
    from k8sclaw_protocol import names

    meta = configmap["metadata"]
    patch = {
        "metadata": {"resourceVersion": meta.get("resourceVersion")},
        "data": {names.MEMORY_KEY: text},
    }
    try:
        target.kube().patch_raw("v1", "ConfigMap", meta["name"], target.ns(), patch)
    except ConflictError as exc:
        raise CliError(
            "the memory changed while you edited it (an agent updated it)",
            hint="run the command again to edit the current version",
        ) from exc


@memory.command("show")
@click.argument("instance")
@_common.cluster_options()
@_common.translating
def show(instance: str, target: _common.Target) -> None:
    """Print INSTANCE's memory."""
    click.echo(terminal_safe(_text(_configmap(target, instance))).rstrip("\n"))


@memory.command("edit")
@click.argument("instance")
@_common.cluster_options()
@_common.translating
def edit(instance: str, target: _common.Target) -> None:
    """Edit INSTANCE's memory in $EDITOR."""
    configmap = _configmap(target, instance)
    edited = click.edit(_text(configmap), extension=".md", require_save=True)
    if edited is None or edited == _text(configmap):
        click.echo("memory unchanged", err=True)
        return
    _write(target, configmap, edited)
    click.echo(f"memory of {instance} updated", err=True)


@memory.command("clear")
@click.argument("instance")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_common.cluster_options()
@_common.translating
def clear(instance: str, yes: bool, target: _common.Target) -> None:
    """Forget everything INSTANCE remembers."""
    configmap = _configmap(target, instance)
    if not yes:
        click.confirm(f"Clear the memory of {instance}?", abort=True, err=True)
    _write(target, configmap, EMPTY)
    click.echo(f"memory of {instance} cleared", err=True)
