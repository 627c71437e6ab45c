"""Printing objects the kubectl way: rich tables for table/wide, JSON, YAML, kind/name.

Data goes to stdout; the renderers of `k8sclaw.render` decide the cells. Models
(`print_list`, `print_one`) and wire dicts of the fast read path (`print_wire`) end in
the same table code, so both print the same bytes; rich is imported only for a TTY.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from k8sclaw.kube import KindNames
    from k8sclaw_protocol import Resource

FAST_OUTPUTS = ("table", "wide", "name")


def print_list(
    kind: type[Resource], objs: Sequence[Resource], output: str, *, namespaced_col: bool
) -> None:
    """Print a list of objects in the chosen format."""
    if output in ("table", "wide"):
        _print_table(kind, objs, wide=output == "wide", namespaced_col=namespaced_col)
    elif output == "name":
        for obj in objs:
            click.echo(f"{kind.info.singular}/{obj.name}")
    elif output == "json":
        body = {"apiVersion": "v1", "kind": "List", "items": [o.to_wire() for o in objs]}
        click.echo(json.dumps(body, indent=2))
    else:
        import yaml

        body = {"apiVersion": "v1", "kind": "List", "items": [o.to_wire() for o in objs]}
        click.echo(yaml.safe_dump(body, sort_keys=False), nl=False)


def print_one(obj: Resource, output: str) -> None:
    """Print one object in the chosen format."""
    if output.startswith(("jsonpath=", "custom-columns=")):
        print_template(dict(obj.to_wire()), output)
    elif output in ("table", "wide"):
        print_list(type(obj), [obj], output, namespaced_col=False)
    elif output == "name":
        click.echo(f"{obj.info.singular}/{obj.name}")
    elif output == "json":
        click.echo(json.dumps(obj.to_wire(), indent=2))
    else:
        click.echo(dump_yaml(obj.to_wire()), nl=False)


def dump_yaml(body: Any) -> str:
    """Block-style YAML keeping field order."""
    import yaml

    return str(yaml.safe_dump(body, sort_keys=False))


def print_wire(
    kind: KindNames, objs: Sequence[dict[str, Any]], output: str, *, namespaced_col: bool
) -> None:
    """Print wire objects (dicts) as table, wide or name — one of `FAST_OUTPUTS`."""
    if output == "name":
        for obj in objs:
            click.echo(f"{kind.singular}/{(obj.get('metadata') or {}).get('name', '')}")
        return
    from k8sclaw.render import WIRE_RENDERERS

    renderer, wide = WIRE_RENDERERS[kind.kind], output == "wide"
    rows = [renderer.row(obj, wide=wide) for obj in objs]
    spaces = [(obj.get("metadata") or {}).get("namespace") or "" for obj in objs]
    _print_rows(kind.plural, renderer.headers(wide=wide), rows, spaces if namespaced_col else None)


def print_items(
    kind: KindNames, items: list[dict[str, Any]], output: str, *, namespaced_col: bool
) -> None:
    """Wire objects in any -o format (after --sort-by, or for jsonpath/custom-columns)."""
    from k8sclaw.cli import _jsonpath

    if output.startswith("jsonpath="):
        body = {"apiVersion": "v1", "kind": "List", "items": items}
        click.echo(_jsonpath.render(output.removeprefix("jsonpath="), body), nl=False)
    elif output.startswith("custom-columns="):
        headers, rows = _jsonpath.column_rows(output.removeprefix("custom-columns="), items)
        _print_rows(kind.plural, headers, rows, None)
    elif output in FAST_OUTPUTS:
        print_wire(kind, items, output, namespaced_col=namespaced_col)
    elif output == "json":
        click.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2))
    else:
        click.echo(dump_yaml({"apiVersion": "v1", "kind": "List", "items": items}), nl=False)


def print_template(obj: dict[str, Any], output: str) -> None:
    """One wire object as -o jsonpath=… or custom-columns=…."""
    from k8sclaw.cli import _jsonpath

    if output.startswith("jsonpath="):
        click.echo(_jsonpath.render(output.removeprefix("jsonpath="), obj), nl=False)
        return
    headers, rows = _jsonpath.column_rows(output.removeprefix("custom-columns="), [obj])
    click.echo(plain_table(headers, rows), nl=False)


def _print_table(
    kind: type[Resource], objs: Sequence[Resource], *, wide: bool, namespaced_col: bool
) -> None:
    from k8sclaw.render import renderer_for

    renderer = renderer_for(kind)
    rows = [renderer.row(obj, wide=wide) for obj in objs]
    spaces = [obj.namespace for obj in objs] if namespaced_col else None
    _print_rows(kind.info.plural, renderer.headers(wide=wide), rows, spaces)


def _print_rows(
    plural: str,
    headers: list[str],
    rows: Sequence[Sequence[str]],
    namespaces: Sequence[str] | None,
) -> None:
    """The table (or the kubectl-style "No ... found." on stderr), NAMESPACE first with -A."""
    if not rows:
        click.echo(f"No {plural} found.", err=True)
        return
    if namespaces is not None:
        headers = ["NAMESPACE", *headers]
        rows = [(ns, *row) for ns, row in zip(namespaces, rows, strict=True)]
    if sys.stdout.isatty():
        _rich_table(headers, rows)
    else:
        click.echo(plain_table(headers, rows), nl=False)


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """kubectl-style aligned columns (three spaces apart) for pipes and files."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in (headers, *rows)
    ]
    return "\n".join(lines) + "\n"


def _rich_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name in headers:
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(*row)
    Console(soft_wrap=False).print(table)
