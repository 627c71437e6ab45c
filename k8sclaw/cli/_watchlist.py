"""`<kind> list -w`: kubectl's watch output — the list, then one line per change, until
Ctrl-C (exit 130, no traceback).

The initial list gives the resourceVersion the watch starts from, so no change between the
two is lost; when the server ends a watch (timeoutSeconds) it is resumed from the last
version seen, and on 410 Gone (history expired) the list is read again and only objects
that changed meanwhile are printed. Table rows keep the column widths of the first table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import click

from k8sclaw.cli import _common, _output
from k8sclaw.kube._kinds import KindNames

Wire = dict[str, Any]
GONE = 410
WATCH_SECONDS = 300
EXIT_INTERRUPTED = 130


class _GoneError(Exception):
    """The watch's resourceVersion is too old: list again."""


def watch_list(
    kind: KindNames, target: _common.Target, selector: str, output: str, sort_by: str | None
) -> None:
    """Print the list (sorted by `sort_by`, like kubectl only the list), then every change
    as it happens; returns only by Ctrl-C."""
    lister = _Lister(kind, target, selector)
    items, version = lister.list()
    if sort_by:
        from k8sclaw.cli import _jsonpath

        items.sort(key=_jsonpath.sort_key(sort_by))
    line = _formatter(kind, output, items, namespaced=target.all_namespaces)
    seen = {_key(obj): _version(obj) for obj in items}
    try:
        while True:
            try:
                for event, obj in lister.watch(version):
                    version = _version(obj) or version
                    if seen.get(_key(obj)) != _version(obj) or event == "DELETED":
                        seen[_key(obj)] = _version(obj)
                        _echo(line(obj))
            except _GoneError:
                fresh, version = lister.list()
                for obj in fresh:
                    if seen.get(_key(obj)) != _version(obj):
                        seen[_key(obj)] = _version(obj)
                        _echo(line(obj))
    except KeyboardInterrupt:
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


def _echo(text: str) -> None:
    if text:
        click.echo(text)


class _Lister:
    """List and watch one kind through `Kube.request` (the fast read path cannot stream)."""

    def __init__(self, kind: KindNames, target: _common.Target, selector: str) -> None:
        from k8sclaw.kube import resource_type
        from k8sclaw_protocol import names

        self.kube = target.kube()
        self.rtype = resource_type(names.GROUP_VERSION, kind.kind)
        self.path = self.rtype.collection(target.list_ns())
        self.query = [("labelSelector", selector)] if selector else []

    def list(self) -> tuple[list[Wire], str]:
        """The objects, sorted by namespace and name, and the list's resourceVersion."""
        body = self.kube.request(
            "GET", self.path, what=self.rtype.plural, custom=True, query=self.query
        )
        items: list[Wire] = sorted(body.get("items") or [], key=_key)
        return items, str((body.get("metadata") or {}).get("resourceVersion", ""))

    def watch(self, version: str) -> Iterator[tuple[str, Wire]]:
        """Events from `version` until the server ends the stream."""
        from k8sclaw.kube import KubeError, iter_lines

        query = [
            *self.query,
            ("watch", "true"),
            ("timeoutSeconds", str(WATCH_SECONDS)),
            ("resourceVersion", version),
        ]
        resp = self.kube.request(
            "GET", self.path, what=self.rtype.plural, custom=True, query=query, stream=True
        )
        try:
            for raw in iter_lines(resp):
                event = json.loads(raw) if raw.strip() else {}
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    if obj.get("code") == GONE:
                        raise _GoneError
                    raise KubeError(f"watch of {self.rtype.plural} failed: {obj.get('message')}")
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    yield str(event["type"]), obj
        finally:
            resp.release_conn()


def _key(obj: Wire) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def _version(obj: Wire) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _formatter(
    kind: KindNames, output: str, items: list[Wire], *, namespaced: bool
) -> Callable[[Wire], str]:
    """Print the initial list in `output` and return how each later object is printed."""
    if output in ("table", "wide"):
        return _table(kind, output == "wide", items, namespaced=namespaced)
    if output.startswith("custom-columns="):
        from k8sclaw.cli import _jsonpath

        spec = output.removeprefix("custom-columns=")
        headers, rows = _jsonpath.column_rows(spec, items)
        widths = _widths(headers, rows)
        click.echo(_aligned(headers, widths))
        for row in rows:
            click.echo(_aligned(row, widths))
        return lambda obj: _aligned(_jsonpath.column_rows(spec, [obj])[1][0], widths)
    one = _single(kind, output)
    for obj in items:
        _echo(one(obj))
    return one


def _single(kind: KindNames, output: str) -> Callable[[Wire], str]:
    """One object per change for name, json, yaml and jsonpath (as kubectl -w prints them)."""
    if output == "name":
        return lambda obj: f"{kind.singular}/{_key(obj)[1]}"
    if output == "json":
        return lambda obj: json.dumps(obj, indent=2)
    if output.startswith("jsonpath="):
        from k8sclaw.cli import _jsonpath

        template = output.removeprefix("jsonpath=")
        return lambda obj: _jsonpath.render(template, obj)
    return lambda obj: "---\n" + _output.dump_yaml(obj).rstrip("\n")


def _table(
    kind: KindNames, wide: bool, items: list[Wire], *, namespaced: bool
) -> Callable[[Wire], str]:
    from k8sclaw.render import WIRE_RENDERERS, terminal_safe

    renderer = WIRE_RENDERERS[kind.kind]

    def cells(obj: Wire) -> tuple[str, ...]:
        row = tuple(terminal_safe(c) for c in renderer.row(obj, wide=wide))
        return (_key(obj)[0], *row) if namespaced else row

    headers = (["NAMESPACE"] if namespaced else []) + renderer.headers(wide=wide)
    rows = [cells(obj) for obj in items]
    widths = _widths(headers, rows)
    click.echo(_aligned(headers, widths))
    for row in rows:
        click.echo(_aligned(row, widths))
    return lambda obj: _aligned(cells(obj), widths)


def _widths(headers: list[str], rows: list[tuple[str, ...]] | list[list[str]]) -> list[int]:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    return widths


def _aligned(cells: Any, widths: list[int]) -> str:
    return "   ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
