"""Pure text for `d` (kubectl-describe-like), `y` (YAML) and `/result`, secrets masked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from k8sclaw.render import MASK, tool_section
from k8sclaw.render._tree import run_tree, tree_lines
from k8sclaw.tui._store import is_record
from k8sclaw_protocol import AgentRun, ClawPolicy

_SECRET_WORDS = ("apikey", "api_key", "token", "password", "secret_value", "stringdata", "data")


def wire(obj: Any) -> dict[str, Any]:
    """The object as the API shows it (raw dict for pods)."""
    return dict(obj.raw) if is_record(obj) else dict(obj.to_wire())


def masked(value: Any, key: str = "") -> Any:
    """A copy with every value under a secret-looking key replaced by the mask."""
    if isinstance(value, dict):
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if key.lower().replace("-", "_") in _SECRET_WORDS and value:
        return MASK
    return value


def to_yaml(obj: Any) -> str:
    """`y`: the object as YAML, without managedFields, secrets masked."""
    data = masked(wire(obj))
    data.get("metadata", {}).pop("managedFields", None)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def describe(obj: Any) -> str:
    """`d`: Name/Namespace/Labels header, then spec and status as indented key: value lines."""
    data = masked(wire(obj))
    meta = data.get("metadata", {})
    lines = [
        f"Name:         {meta.get('name', '')}",
        f"Namespace:    {meta.get('namespace', '')}",
        f"Kind:         {data.get('kind') or getattr(obj, 'KIND', '')}",
        f"Created:      {meta.get('creationTimestamp', '')}",
        "Labels:       " + (_pairs(meta.get("labels")) or "<none>"),
    ]
    for section in ("spec", "status"):
        lines.append(f"{section.capitalize()}:")
        lines.extend(_tree(data.get(section) or {}, 2) or ["  <none>"])
    if isinstance(obj, ClawPolicy):  # `ask` reads "needs approval", as in the CLI
        lines.extend(tool_section(obj))
    return "\n".join(lines)


def _pairs(labels: dict[str, str] | None) -> str:
    return "\n              ".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def _tree(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{_title(key)}:")
                lines.extend(_tree(item, indent + 2))
            else:
                lines.append(f"{pad}{_title(key)}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            sub = _tree(item, indent + 2)
            lines.append(f"{pad}- {sub[0].strip() if sub else ''}")
            lines.extend(sub[1:])
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return lines


def _title(key: str) -> str:
    return key[:1].upper() + key[1:]


def _scalar(value: Any) -> str:
    if value in (None, "", [], {}):
        return "<none>"
    return " ".join(str(value).split()) if "\n" not in str(value) else str(value)


def result_text(run: AgentRun) -> str:
    """`/result`: one status line, then the result (or the error)."""
    status = run.status
    phase = (status.phase if status else None) or "Pending"
    head = f"{run.name} │ phase:{phase} pod:{(status.pod_name if status else None) or '-'}"
    head += f" task:{run.spec.task[:40]}"
    body = []
    if status and status.result:
        body.append(status.result)
    if status and status.error:
        body.append(f"Error: {status.error}")
    return "\n".join([head, *(body or ["(no result yet)"])])


def sub_agents(run: AgentRun, runs: Iterable[AgentRun]) -> list[str]:
    """The `Sub-agents:` section of a run's describe: its run tree, when it has children."""
    lineage = ((r.name, r.spec.parent.run_name if r.spec.parent else None, r.phase) for r in runs)
    rows = run_tree(run.name, lineage)
    if len(rows) <= 1:
        return []
    return ["Sub-agents:", *(f"  {line}" for line in tree_lines(rows))]
