"""The generic `list`, `get` and `delete` commands, built once per kind.

Each command group module (`_instances`, `_policies`, ...) calls these factories and
adds only what is special about its kind (k9s's generic browser, for the CLI).
"""

from __future__ import annotations

import click

from k8sclaw.cli import _common, _output
from k8sclaw_protocol import Resource


def list_command(kind: type[Resource]) -> click.Command:
    """`<group> list [-A] [-o ...] [-l selector]`."""

    @click.command("list")
    @_common.cluster_options(all_namespaces=True)
    @_common.output_option("table")
    @click.option(
        "-l", "--selector", default="", help="Label selector, e.g. k8sclaw.io/instance=a."
    )
    @_common.translating
    def command(target: _common.Target, output: str, selector: str) -> None:
        objs = target.kube().list(kind, target.list_ns(), selector)
        objs.sort(key=lambda o: (o.namespace, o.name))
        _output.print_list(kind, objs, output, namespaced_col=target.all_namespaces)

    command.help = f"List {kind.info.kind}s."
    return command


def get_command(kind: type[Resource]) -> click.Command:
    """`<group> get NAME [-o yaml|json|table|wide|name]`."""

    @click.command("get")
    @click.argument("name")
    @_common.cluster_options()
    @_common.output_option("yaml")
    @_common.translating
    def command(name: str, target: _common.Target, output: str) -> None:
        _output.print_one(target.kube().get(kind, name, target.ns()), output)

    command.help = f"Show one {kind.info.kind}."
    return command


def delete_command(kind: type[Resource]) -> click.Command:
    """`<group> delete NAME...`."""

    @click.command("delete")
    @click.argument("names", nargs=-1, required=True)
    @_common.cluster_options()
    @_common.translating
    def command(names: tuple[str, ...], target: _common.Target) -> None:
        kube, namespace = target.kube(), target.ns()
        for name in names:
            kube.delete(kind, name, namespace)
            click.echo(f"{kind.info.singular}/{name} deleted")

    command.help = f"Delete {kind.info.kind}s by name."
    return command


def group(
    name: str, kind: type[Resource], *, verbs: tuple[str, ...], aliases_help: str = ""
) -> click.Group:
    """A command group with the generic verbs for `kind`."""
    factories = {"list": list_command, "get": get_command, "delete": delete_command}
    grp = click.Group(
        name, help=f"{kind.info.kind}s ({kind.info.short_names[0]}). {aliases_help}".strip()
    )
    for verb in verbs:
        grp.add_command(factories[verb](kind))
    return grp
