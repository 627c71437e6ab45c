"""Streaming renderings of a scripted turn, faithful to the providers' wire formats.

OpenAI Chat Completions (`"stream": true`): `data: <chat.completion.chunk>` lines — a
role chunk, content deltas, tool-call deltas (the first of each call carries `id`,
`type` and `function.name`, later ones only argument fragments, all keyed by `index`),
a finish chunk, with `stream_options.include_usage` a final chunk with empty `choices`
and the usage (every earlier chunk then has `"usage": null`), and `data: [DONE]`.

Anthropic Messages (`"stream": true`): named events `message_start`, `content_block_start`
/ `content_block_delta` (`text_delta`, `input_json_delta`) / `content_block_stop` per
block, `ping`, `message_delta` (stop reason, output tokens) and `message_stop`.

Text is split into word-sized deltas and tool arguments into several fragments, so a
client that does not assemble deltas correctly fails the tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from tests.harness.llm._script import Turn, next_id

HOLD = object()
"""Yielded after the first text delta of a turn with `hold` set: the server waits there."""


def pieces(text: str) -> list[str]:
    """Word-sized deltas whose concatenation is `text`."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


def fragments(raw: str, n: int = 3) -> list[str]:
    """`raw` cut into up to `n` pieces (argument JSON arrives in fragments)."""
    step = max(1, -(-len(raw) // n))
    return [raw[i : i + step] for i in range(0, len(raw), step)] or [""]


def _data(payload: Any) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _text_deltas(turn: Turn) -> Iterator[str | object]:
    for i, piece in enumerate(pieces(turn.text)):
        yield piece
        if i == 0 and turn.hold is not None:
            yield HOLD


def openai_stream(turn: Turn, model: str, include_usage: bool) -> Iterator[bytes | object]:
    ident = f"chatcmpl-{next_id()}"
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        body = {"id": ident, "object": "chat.completion.chunk", "created": 0, "model": model}
        return _data({**body, "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in _text_deltas(turn):
        yield piece if piece is HOLD else chunk({"content": piece})
    for index, use in enumerate(turn.tool_calls):
        args = fragments(json.dumps(use.arguments))
        function = {"name": use.name, "arguments": ""}
        yield chunk(
            {
                "tool_calls": [
                    {"index": index, "id": use.id, "type": "function", "function": function}
                ]
            }
        )
        for part in args:
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
    yield chunk({}, turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop"))
    if include_usage:
        usage = {
            "prompt_tokens": turn.input_tokens,
            "completion_tokens": turn.output_tokens,
            "total_tokens": turn.input_tokens + turn.output_tokens,
        }
        body = {"id": ident, "object": "chat.completion.chunk", "created": 0, "model": model}
        yield _data({**body, "choices": [], "usage": usage})
    yield b"data: [DONE]\n\n"


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n".encode()


def anthropic_stream(turn: Turn, model: str) -> Iterator[bytes | object]:
    message = {
        "id": f"msg_{next_id()}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": turn.input_tokens, "output_tokens": 1},
    }
    yield _event("message_start", {"message": message})
    yield _event("ping", {})
    index = 0
    if turn.text:
        yield _event(
            "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
        )
        for piece in _text_deltas(turn):
            delta = {"type": "text_delta", "text": piece}
            yield (
                piece
                if piece is HOLD
                else _event("content_block_delta", {"index": 0, "delta": delta})
            )
        yield _event("content_block_stop", {"index": 0})
        index = 1
    for use in turn.tool_calls:
        block = {"type": "tool_use", "id": use.id, "name": use.name, "input": {}}
        yield _event("content_block_start", {"index": index, "content_block": block})
        for part in fragments(json.dumps(use.arguments)):
            delta = {"type": "input_json_delta", "partial_json": part}
            yield _event("content_block_delta", {"index": index, "delta": delta})
        yield _event("content_block_stop", {"index": index})
        index += 1
    stop = turn.finish_reason or ("tool_use" if turn.tool_calls else "end_turn")
    yield _event(
        "message_delta",
        {
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": turn.output_tokens},
        },
    )
    yield _event("message_stop", {})
