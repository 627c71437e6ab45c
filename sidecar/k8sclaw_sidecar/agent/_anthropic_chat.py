"""Anthropic Messages with streaming (`messages.stream`) and tool_use / tool_result blocks.

Text deltas go to `on_text` as they arrive; the SDK assembles tool inputs from their
`input_json_delta` fragments and hands over the final message with the usage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anthropic
import httpx

from k8sclaw_protocol import HistoryTurn
from k8sclaw_sidecar.agent._model import OnText, ToolCall, Turn, broken_stream, friendly

MAX_TOKENS = 8192


class AnthropicChat:
    """One conversation over the Messages API."""

    label = "Anthropic"

    def __init__(self, model: str, client: anthropic.AsyncAnthropic) -> None:
        self.model, self.client = model, client
        self.system = ""
        self.messages: list[dict[str, Any]] = []

    def start(self, system: str, task: str, history: Sequence[HistoryTurn] = ()) -> None:
        self.system = system
        prior = [{"role": t.role, "content": t.text} for t in history]
        self.messages = [*prior, {"role": "user", "content": task}]

    async def complete(self, tools: list[dict[str, Any]], on_text: OnText) -> Turn:
        offered = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
            for t in tools
        ]
        try:
            stream: Any = self.client.messages.stream
            async with stream(
                model=self.model,
                max_tokens=MAX_TOKENS,
                system=self.system,
                messages=self.messages,
                **({"tools": offered} if offered else {}),
            ) as events:
                async for event in events:
                    if event.type == "text" and event.text:
                        on_text(event.text)
                message = await events.get_final_message()
        except anthropic.APIError as exc:
            raise friendly(self.label, exc) from exc
        except httpx.HTTPError as exc:
            raise broken_stream(self.label, exc) from exc
        text = "".join(b.text for b in message.content if b.type == "text")
        calls = [
            ToolCall(b.id, b.name, b.input if isinstance(b.input, dict) else {})
            for b in message.content
            if b.type == "tool_use"
        ]
        blocks = [b.model_dump(exclude_none=True) for b in message.content]
        self.messages.append({"role": "assistant", "content": blocks})
        usage = message.usage
        return Turn(text, calls, usage.input_tokens, usage.output_tokens)

    def add_tool_results(self, turn: Turn, results: list[tuple[ToolCall, str, bool]]) -> None:
        blocks = [
            {"type": "tool_result", "tool_use_id": c.id, "content": out, "is_error": err}
            for c, out, err in results
        ]
        self.messages.append({"role": "user", "content": blocks})

    async def close(self) -> None:
        await self.client.close()
