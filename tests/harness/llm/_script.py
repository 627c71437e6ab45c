"""What a scripted model says: one `Turn` per request, rendered in either wire format."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)


def next_id() -> int:
    """A process-unique number for response and tool-call ids."""
    return next(_ids)


@dataclass(frozen=True)
class ToolUse:
    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: f"call_{next(_ids)}")


@dataclass(frozen=True)
class Turn:
    """One scripted answer (or error) of the model."""

    text: str = ""
    tool_calls: tuple[ToolUse, ...] = ()
    status: int = 200
    error_type: str = ""
    error_code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    finish_reason: str | None = None
    """Override the reported finish reason (e.g. 'stop' despite tool calls)."""
    input_tokens: int = 10
    output_tokens: int = 5
    hold: threading.Event | None = None
    """When streaming: pause after the first text delta until this is set (10 s at most),
    so a test can see a chunk reach the bus while the turn is still open."""


def text(content: str, **kw: Any) -> Turn:
    return Turn(text=content, **kw)


def tool(name: str, **arguments: Any) -> ToolUse:
    return ToolUse(name, arguments)


def calls(*uses: ToolUse, say: str = "", **kw: Any) -> Turn:
    return Turn(text=say, tool_calls=uses, **kw)


def error(
    status: int, message: str = "", *, retry_after: str | None = None, code: str | None = None
) -> Turn:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    kinds = {
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }
    return Turn(
        status=status,
        error_type=kinds.get(status, "api_error"),
        error_code=code,
        headers=headers,
        text=message or f"scripted HTTP {status}",
    )


def openai_body(turn: Turn, model: str) -> dict[str, Any]:
    if turn.status != 200:
        return {"error": {"message": turn.text, "type": turn.error_type, "code": turn.error_code}}
    message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": u.id,
                "type": "function",
                "function": {"name": u.name, "arguments": _json(u.arguments)},
            }
            for u in turn.tool_calls
        ]
    finish = turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop")
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": turn.input_tokens,
            "completion_tokens": turn.output_tokens,
            "total_tokens": turn.input_tokens + turn.output_tokens,
        },
    }


def anthropic_body(turn: Turn, model: str) -> dict[str, Any]:
    if turn.status != 200:
        return {"type": "error", "error": {"type": turn.error_type, "message": turn.text}}
    content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
    content += [
        {"type": "tool_use", "id": u.id, "name": u.name, "input": u.arguments}
        for u in turn.tool_calls
    ]
    stop = turn.finish_reason or ("tool_use" if turn.tool_calls else "end_turn")
    return {
        "id": f"msg_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": turn.input_tokens, "output_tokens": turn.output_tokens},
    }


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
