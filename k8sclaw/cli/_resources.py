"""The generic `list`, `get` and `delete` commands, built once per kind.

Each command group module (`_instances`, `_policies`, ...) calls these factories and
adds only what is special about its kind (k9s's generic browser, for the CLI). Kinds
are named by string (`k8sclaw.kube.CUSTOM_KINDS`) so building the groups imports no
model: `list`/`get` with table, wide or name output read plain JSON through
`target.rest()`; JSON/YAML output and every write go through the models and `Kube`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from k8sclaw.cli import _common, _output
from k8sclaw.cli._lazy import SuggestingGroup
from k8sclaw.kube._kinds import CUSTOM_KINDS, not_found

if TYPE_CHECKING:
    from k8sclaw_protocol import Resource


def model(kind: str) -> type[Resource]:
    """The pydantic class of a kind, imported on first use."""
    import k8sclaw_protocol

    cls: type[Resource] = getattr(k8sclaw_protocol, kind)
    return cls


def plural_title(kind: str) -> str:
    """How help text names several of a kind: ClawPolicies, AgentRuns."""
    return f"{kind[:-1]}ies" if kind.endswith("y") else f"{kind}s"


def list_command(kind: str) -> click.Command:
    """`<group> list [-A] [-o ...] [-l selector]`."""
    info = CUSTOM_KINDS[kind]

    @click.command("list")
    @_common.cluster_options(all_namespaces=True)
    @_common.output_option("table")
    @click.option(
        "-l", "--selector", default="", help="Label selector, e.g. k8sclaw.io/instance=a."
    )
    @click.option("--sort-by", metavar="JSONPATH", help="Sort by a field, e.g. .metadata.name.")
    @click.option(
        "-w", "--watch", is_flag=True, help="After the list, print each change until Ctrl-C."
    )
    @_common.translating
    def command(
        target: _common.Target, output: str, selector: str, sort_by: str | None, watch: bool
    ) -> None:
        if watch:
            from k8sclaw.cli._watchlist import watch_list

            watch_list(info, target, selector, output, sort_by)
            return
        if sort_by or output.startswith(_common.TEMPLATE_OUTPUTS):
            items = _wire_list(kind, target, selector)
            if sort_by:
                from k8sclaw.cli import _jsonpath

                items.sort(key=_jsonpath.sort_key(sort_by))
            _output.print_items(info, items, output, namespaced_col=target.all_namespaces)
            return
        rest = target.rest() if output in _output.FAST_OUTPUTS else None
        if rest is not None:
            items = rest.list_items(info, target.list_ns(), selector)
            items.sort(key=_wire_key)
            _output.print_wire(info, items, output, namespaced_col=target.all_namespaces)
            return
        objs = target.kube().list(model(kind), target.list_ns(), selector)
        objs.sort(key=lambda o: (o.namespace, o.name))
        _output.print_list(model(kind), objs, output, namespaced_col=target.all_namespaces)

    command.help = f"List {plural_title(kind)}."
    return command


def _wire_list(kind: str, target: _common.Target, selector: str) -> list[dict[str, Any]]:
    """Objects as the API sends them, through the fast path when it can serve."""
    info = CUSTOM_KINDS[kind]
    rest = target.rest()
    if rest is not None:
        items = rest.list_items(info, target.list_ns(), selector)
    else:
        found = target.kube().list(model(kind), target.list_ns(), selector)
        items = [dict(o.to_wire()) for o in found]
    items.sort(key=_wire_key)
    return items


def _wire_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def get_command(kind: str) -> click.Command:
    """`<group> get NAME [-o yaml|json|table|wide|name]`."""
    info = CUSTOM_KINDS[kind]

    @click.command("get")
    @click.argument("name")
    @_common.cluster_options()
    @_common.output_option("yaml")
    @_common.translating
    def command(name: str, target: _common.Target, output: str) -> None:
        if output.startswith(_common.TEMPLATE_OUTPUTS):
            rest_client = target.rest()
            obj = (
                rest_client.get_item(info, name, target.ns())
                if rest_client is not None
                else dict(target.kube().get(model(kind), name, target.ns()).to_wire())
            )
            _output.print_template(obj, output)
            return
        rest = target.rest() if output in _output.FAST_OUTPUTS else None
        if rest is not None:
            obj = rest.get_item(info, name, target.ns())
            _output.print_wire(info, [obj], output, namespaced_col=False)
            return
        _output.print_one(target.kube().get(model(kind), name, target.ns()), output)

    command.help = f"Show one {kind}."
    return command


def delete_command(kind: str) -> click.Command:
    """`<group> delete NAME...`."""
    info = CUSTOM_KINDS[kind]

    @click.command("delete")
    @click.argument("names", nargs=-1, required=True)
    @_common.cluster_options()
    @_common.translating
    def command(names: tuple[str, ...], target: _common.Target) -> None:
        from k8sclaw.kube import NotFoundError

        kube, namespace = target.kube(), target.ns()
        for name in names:
            try:
                kube.delete(model(kind), name, namespace)
            except NotFoundError as exc:
                raise not_found(kind, info.singular, info.plural, name, namespace) from exc
            click.echo(f"{info.singular}/{name} deleted")

    command.help = f"Delete {plural_title(kind)} by name."
    return command


def group(name: str, kind: str, *, verbs: tuple[str, ...], aliases_help: str = "") -> click.Group:
    """A command group with the generic verbs for `kind` (a key of `CUSTOM_KINDS`)."""
    factories = {"list": list_command, "get": get_command, "delete": delete_command}
    grp = SuggestingGroup(
        name,
        help=f"{plural_title(kind)} ({CUSTOM_KINDS[kind].short_name}). {aliases_help}".strip(),
    )
    for verb in verbs:
        grp.add_command(factories[verb](kind))
    return grp
