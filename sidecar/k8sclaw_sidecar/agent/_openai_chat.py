"""Chat Completions with streaming and tool calling (OpenAI, Azure, Ollama, compatible).

Requests `stream=True` with `stream_options.include_usage` (the usage arrives in a last
chunk with no choices). A server that rejects `stream_options` (older Azure API
versions, some compatible servers) is asked again without it, once per run. Text
deltas go to `on_text` as they arrive; tool calls are assembled from their deltas by
`index` (the first delta carries id and name, later ones argument fragments).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai

from k8sclaw_protocol import HistoryTurn
from k8sclaw_sidecar.agent._model import (
    OnText,
    ProviderError,
    ToolCall,
    Turn,
    broken_stream,
    friendly,
    parse_args,
)


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def add(self, delta: Any) -> None:
        self.id = self.id or (delta.id or "")
        function = delta.function
        if function is not None:
            self.name = self.name or (function.name or "")
            if function.arguments:
                self.arguments.append(function.arguments)


@dataclass
class _Collected:
    text: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    usage: Any = None


class OpenAIChat:
    """One conversation over Chat Completions."""

    def __init__(self, model: str, client: openai.AsyncOpenAI, label: str) -> None:
        self.model, self.client, self.label = model, client, label
        self.messages: list[dict[str, Any]] = []
        self.usage_option = True

    def start(self, system: str, task: str, history: Sequence[HistoryTurn] = ()) -> None:
        prior = [{"role": t.role, "content": t.text} for t in history]
        self.messages = [
            {"role": "system", "content": system},
            *prior,
            {"role": "user", "content": task},
        ]

    async def complete(self, tools: list[dict[str, Any]], on_text: OnText) -> Turn:
        offered = [{"type": "function", "function": t} for t in tools]
        extra: dict[str, Any] = {"tools": offered} if offered else {}
        if self.usage_option:
            extra["stream_options"] = {"include_usage": True}
        try:
            # Messages are plain dicts on the wire; the SDK's TypedDict overloads add nothing.
            create: Any = self.client.chat.completions.create
            stream = await create(model=self.model, messages=self.messages, stream=True, **extra)
            async with stream:
                got = await self._collect(stream, on_text)
        except openai.BadRequestError as exc:
            if self.usage_option and "stream_options" in str(exc):
                self.usage_option = False
                return await self.complete(tools, on_text)
            raise friendly(self.label, exc) from exc
        except (openai.APIError, openai.APIConnectionError) as exc:
            raise friendly(self.label, exc) from exc
        except httpx.HTTPError as exc:
            raise broken_stream(self.label, exc) from exc
        return self._finish(got)

    async def _collect(self, stream: Any, on_text: OnText) -> _Collected:
        got = _Collected()
        async for chunk in stream:
            if chunk.usage is not None:
                got.usage = chunk.usage
            for choice in chunk.choices:
                if choice.index != 0:
                    continue
                delta = choice.delta
                if delta.content:
                    got.text.append(delta.content)
                    on_text(delta.content)
                for call in delta.tool_calls or []:
                    got.calls.setdefault(call.index, _PartialCall()).add(call)
        return got

    def _finish(self, got: _Collected) -> Turn:
        text = "".join(got.text)
        calls = []
        for index in sorted(got.calls):
            partial = got.calls[index]
            if not partial.name:
                raise ProviderError(f"{self.label} streamed a tool call without a name")
            ident = partial.id or f"call_{index}_{uuid.uuid4().hex[:8]}"
            calls.append(ToolCall(ident, partial.name, parse_args("".join(partial.arguments))))
        assistant: dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            assistant["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": "".join(got.calls[i].arguments)},
                }
                for i, c in zip(sorted(got.calls), calls, strict=True)
            ]
        self.messages.append(assistant)
        usage = got.usage
        return Turn(
            text=text,
            tool_calls=calls,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )

    def add_tool_results(self, turn: Turn, results: list[tuple[ToolCall, str, bool]]) -> None:
        for call, output, _ in results:
            self.messages.append({"role": "tool", "tool_call_id": call.id, "content": output})

    async def close(self) -> None:
        await self.client.close()
