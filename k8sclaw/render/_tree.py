"""The run tree: a run and the sub-agent runs it spawned, for `runs get --tree` and the TUI."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

TreeRow = tuple[int, str, str]
"""(depth below the root, run name, phase)."""


def lineage(run: Mapping[str, Any]) -> tuple[str, str | None, str]:
    """(name, parent run name, phase) of a run as the API returns it."""
    parent = ((run.get("spec") or {}).get("parent") or {}).get("runName")
    phase = (run.get("status") or {}).get("phase") or "Pending"
    return str((run.get("metadata") or {}).get("name") or ""), parent, str(phase)


def run_tree(root: str, runs: Iterable[tuple[str, str | None, str]]) -> list[TreeRow]:
    """`root` and its descendants depth first, siblings by name; [] when `root` is absent."""
    phases: dict[str, str] = {}
    children: dict[str, list[str]] = {}
    for name, parent, phase in runs:
        phases[name] = phase
        if parent:
            children.setdefault(parent, []).append(name)
    if root not in phases:
        return []
    rows: list[TreeRow] = []
    stack = [(0, root)]
    seen: set[str] = set()
    while stack:
        depth, name = stack.pop()
        if name in seen:  # a forged parent loop must not hang the renderer
            continue
        seen.add(name)
        rows.append((depth, name, phases[name]))
        stack.extend((depth + 1, child) for child in sorted(children.get(name, []), reverse=True))
    return rows


def tree_lines(rows: list[TreeRow]) -> list[str]:
    """Indented text lines: `NAME  PHASE`, children under their parent."""
    labels = [("   " * (depth - 1) + "└─ " if depth else "") + name for depth, name, _ in rows]
    width = max((len(label) for label in labels), default=0) + 2
    return [f"{label:<{width}}{phase}" for label, (_, _, phase) in zip(labels, rows, strict=True)]
