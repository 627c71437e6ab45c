"""One recorded transcript event as display lines, shared by the CLI and the TUI.

Tool calls and tool results are entries of their own (`→ …`, `← …`), never run into the
agent's text. Everything here was written by an agent: callers show it terminal-safe.
"""

from __future__ import annotations

import json
from typing import Any

TRANSCRIPTS_API = "/apis/transcripts.k8sclaw.io/v1alpha1"
"""The aggregated API the CLI and TUI read transcripts from (docs/api.md)."""
RESULT_PREVIEW = 400  # characters of a tool result shown inline


def one_line(data: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return " ".join(text.split())


def entry(event: dict[str, Any]) -> str | None:  # noqa: PLR0911 - one answer per kind
    """The display text of one event (None: not shown)."""
    kind, data = event.get("kind"), event.get("data")
    content = data.get("content") if isinstance(data, dict) else None
    if kind == "task":
        return f"» {one_line((data or {}).get('task', '') if isinstance(data, dict) else '')}"
    if kind == "text" and isinstance(content, str):
        return content
    if kind == "tool_call":
        return f"→ {one_line(content if content is not None else data)}"
    if kind == "tool_result":
        text = one_line(content if content is not None else data)
        return f"  ← {text if len(text) <= RESULT_PREVIEW else text[:RESULT_PREVIEW] + '…'}"
    if kind == "result" and isinstance(data, dict):
        if data.get("error"):
            return f"✗ {one_line(data['error'])}"
        return f"✓ {data.get('status', 'done')}"
    if kind == "error":
        return f"✗ {one_line(data)}"
    return None
