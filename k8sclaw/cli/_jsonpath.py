"""kubectl's `-o jsonpath=…`, `-o custom-columns=…` and `--sort-by` on wire objects.

A subset of kubectl's JSONPath: `{.a.b}`, `{.items[0].x}`, `{.items[*].metadata.name}`
and quoted literals (`{"\\n"}`) between fixed text; several results are joined by a
space as kubectl does. `range`/filters are refused with a message, never misread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final

_STEP: Final = re.compile(r"\.([A-Za-z0-9_\-/]+)|\[(\*|\d+)\]")
_BRACES: Final = re.compile(r"\{([^{}]*)\}")


def evaluate(path: str, obj: Any) -> list[Any]:
    """Every value `path` (".a.b[0]", "{.a}", with or without braces) selects in `obj`."""
    expr = path.strip().removeprefix("{").removesuffix("}").strip()
    if expr in ("", "."):
        return [obj]
    if not expr.startswith((".", "[")):
        expr = "." + expr
    values, pos = [obj], 0
    while pos < len(expr):
        step = _STEP.match(expr, pos)
        if step is None:
            raise ValueError(f"unsupported JSONPath {path!r} at {expr[pos:]!r}")
        key, index = step.groups()
        values = [v for value in values for v in _step(value, key, index)]
        pos = step.end()
    return values


def _step(value: Any, key: str | None, index: str | None) -> list[Any]:
    if key is not None:
        return [value[key]] if isinstance(value, dict) and key in value else []
    if not isinstance(value, list):
        return []
    if index == "*":
        return list(value)
    i = int(index or 0)
    return [value[i]] if i < len(value) else []


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def render(template: str, obj: Any) -> str:
    """The text of a `jsonpath=` template applied to `obj`."""
    out, pos = [], 0
    for match in _BRACES.finditer(template):
        out.append(template[pos : match.start()])
        inner = match.group(1).strip()
        if inner.startswith(("range", "end")) or "?(" in inner:
            raise ValueError(f"JSONPath {{{inner}}} is not supported; use {{.items[*].field}}")
        if inner.startswith('"') and inner.endswith('"'):
            out.append(json.loads(inner))
        else:
            out.append(" ".join(_text(v) for v in evaluate(inner, obj)))
        pos = match.end()
    out.append(template[pos:])
    return "".join(out)


def columns(spec: str) -> list[tuple[str, str]]:
    """`NAME:.metadata.name,PHASE:.status.phase` as (header, path) pairs."""
    pairs = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep or not header or not path:
            raise ValueError(f"custom-columns entry {part!r} is not HEADER:.path")
        pairs.append((header, path))
    return pairs


def column_rows(spec: str, objs: Sequence[Any]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of `-o custom-columns=` (`<none>` where a path selects nothing)."""
    cols = columns(spec)
    rows = [
        [",".join(_text(v) for v in evaluate(path, obj)) or "<none>" for _, path in cols]
        for obj in objs
    ]
    return [h for h, _ in cols], rows


def sort_key(path: str) -> Any:
    """A key function ordering objects by the value `--sort-by` selects (missing first)."""

    def key(obj: Any) -> tuple[int, Any]:
        found = evaluate(path, obj)
        value = found[0] if found else None
        if isinstance(value, int | float):
            return (1, value)
        return (0 if value is None else 2, _text(value))

    return key
