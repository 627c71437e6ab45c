"""What every provider adapter shares: the turn shape, the error type, friendly messages.

A `Turn` is one model answer after its stream ended: the whole text (the deltas were
handed to `OnText` as they arrived), the tool calls assembled from their deltas, and
the usage. Whether to run tools is decided by the presence of tool calls, never by the
finish reason (reference §15).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from k8sclaw_protocol import HistoryTurn

OnText = Callable[[str], None]
"""Receives each piece of answer text as the provider streams it."""


class ProviderError(Exception):
    """The provider refused the request for a reason retrying will not fix."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    """Parsed arguments; `{"__invalid__": raw}` when the model sent bad JSON."""


@dataclass
class Turn:
    """One model answer: text and the tool calls it asks for."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0


class Provider(Protocol):
    """A conversation with one model; the runner drives it turn by turn."""

    def start(self, system: str, task: str, history: Sequence[HistoryTurn] = ()) -> None:
        """Begin the conversation: system prompt, prior turns (oldest first), the task."""
        ...

    async def complete(self, tools: list[dict[str, Any]], on_text: OnText) -> Turn: ...

    def add_tool_results(self, turn: Turn, results: list[tuple[ToolCall, str, bool]]) -> None: ...

    async def close(self) -> None: ...


def parse_args(raw: str) -> dict[str, Any]:
    """Tool-call arguments as a dict; `{"__invalid__": raw}` when not a JSON object."""
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {"__invalid__": raw}
    return value if isinstance(value, dict) else {"__invalid__": raw}


_HINTS = {
    401: "the API key was rejected; check the Secret in spec.model.authSecretRef",
    403: "the API key may not use this model; check the account's permissions",
    404: "the model or endpoint was not found; check MODEL_NAME and MODEL_BASE_URL",
}


def friendly(label: str, exc: Exception) -> ProviderError:
    """A one-line error naming the provider, the HTTP status and what to check."""
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code") or body["error"].get("type")
    detail = str(getattr(exc, "message", exc))[:500]
    hint = _HINTS.get(status or 0, "")
    if code in ("insufficient_quota", "model_not_found", "invalid_api_key"):
        hint = f"{code}: " + (hint or "check the provider account")
    where = f" (HTTP {status})" if status else ""
    message = f"{label} API error{where}: {detail}"
    return ProviderError(f"{message} — {hint}" if hint else message)


def broken_stream(label: str, exc: Exception) -> ProviderError:
    """The connection failed while the answer was streaming (nothing to retry safely)."""
    return ProviderError(
        f"{label} stream broke off: {type(exc).__name__}: {exc}"[:600]
        + " — the endpoint or a proxy closed the connection; check MODEL_BASE_URL"
    )
