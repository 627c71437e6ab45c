"""Model providers behind one small interface, via the official SDKs.

OpenAI, Azure OpenAI, Ollama and any OpenAI-compatible server speak Chat Completions
through the `openai` SDK; Anthropic speaks Messages through `anthropic`. The SDKs
retry 429/5xx with back-off honouring Retry-After; auth, permission, not-found and
quota errors become a `ProviderError` with a message a person can act on.
Whether to run tools is decided by the presence of tool calls, never by the finish
reason (reference §15).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import anthropic
import openai

from k8sclaw_sidecar.agent._settings import DEFAULT_OLLAMA_URL, AgentSettings

ANTHROPIC_MAX_TOKENS = 8192
_LABELS = {
    "openai": "OpenAI",
    "azure-openai": "Azure OpenAI",
    "ollama": "Ollama",
    "anthropic": "Anthropic",
}


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
    async def complete(self, tools: list[dict[str, Any]]) -> Turn: ...

    def add_tool_results(self, turn: Turn, results: list[tuple[ToolCall, str, bool]]) -> None: ...

    async def close(self) -> None: ...


def _parse_args(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {"__invalid__": raw}
    return value if isinstance(value, dict) else {"__invalid__": raw}


def _friendly(label: str, exc: Exception) -> ProviderError:
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code") or body["error"].get("type")
    detail = str(getattr(exc, "message", exc))[:500]
    hints = {
        401: "the API key was rejected; check the Secret in spec.model.authSecretRef",
        403: "the API key may not use this model; check the account's permissions",
        404: "the model or endpoint was not found; check MODEL_NAME and MODEL_BASE_URL",
    }
    hint = hints.get(status or 0, "")
    if code in ("insufficient_quota", "model_not_found", "invalid_api_key"):
        hint = f"{code}: " + (hint or "check the provider account")
    message = f"{label} API error (HTTP {status}): {detail}"
    return ProviderError(f"{message} — {hint}" if hint else message)


class OpenAIChat:
    """Chat Completions with tool calling (OpenAI, Azure, Ollama, compatible)."""

    def __init__(self, settings: AgentSettings, client: openai.AsyncOpenAI, label: str) -> None:
        self.model, self.client, self.label = settings.model, client, label
        self.messages: list[dict[str, Any]] = []

    def start(self, system: str, task: str) -> None:
        self.messages = [{"role": "system", "content": system}, {"role": "user", "content": task}]

    async def complete(self, tools: list[dict[str, Any]]) -> Turn:
        offered = [{"type": "function", "function": t} for t in tools]
        try:
            # Messages are plain dicts on the wire; the SDK's TypedDict overloads add nothing.
            create: Any = self.client.chat.completions.create
            resp = await create(
                model=self.model, messages=self.messages, **({"tools": offered} if offered else {})
            )
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            raise _friendly(self.label, exc) from exc
        if not resp.choices:
            raise ProviderError(f"{self.label} returned no choices")
        msg = resp.choices[0].message
        calls = [
            ToolCall(c.id, c.function.name, _parse_args(c.function.arguments))
            for c in (msg.tool_calls or [])
            if c.type == "function"
        ]
        assistant: dict[str, Any] = {"role": "assistant", "content": msg.content or ""}
        if msg.tool_calls:
            assistant["tool_calls"] = [c.model_dump(exclude_none=True) for c in msg.tool_calls]
        self.messages.append(assistant)
        usage = resp.usage
        return Turn(
            text=msg.content or "",
            tool_calls=calls,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )

    def add_tool_results(self, turn: Turn, results: list[tuple[ToolCall, str, bool]]) -> None:
        for call, output, _ in results:
            self.messages.append({"role": "tool", "tool_call_id": call.id, "content": output})

    async def close(self) -> None:
        await self.client.close()


class AnthropicChat:
    """Anthropic Messages with tool_use / tool_result blocks."""

    def __init__(self, settings: AgentSettings, client: anthropic.AsyncAnthropic) -> None:
        self.model, self.client = settings.model, client
        self.system = ""
        self.messages: list[dict[str, Any]] = []

    def start(self, system: str, task: str) -> None:
        self.system = system
        self.messages = [{"role": "user", "content": task}]

    async def complete(self, tools: list[dict[str, Any]]) -> Turn:
        offered = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
            for t in tools
        ]
        try:
            create: Any = self.client.messages.create
            resp = await create(
                model=self.model,
                max_tokens=ANTHROPIC_MAX_TOKENS,
                system=self.system,
                messages=self.messages,
                **({"tools": offered} if offered else {}),
            )
        except (anthropic.APIStatusError, anthropic.APIConnectionError) as exc:
            raise _friendly("Anthropic", exc) from exc
        text = "".join(b.text for b in resp.content if b.type == "text")
        calls = [
            ToolCall(b.id, b.name, b.input if isinstance(b.input, dict) else {})
            for b in resp.content
            if b.type == "tool_use"
        ]
        self.messages.append(
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in resp.content],
            }
        )
        return Turn(text, calls, resp.usage.input_tokens, resp.usage.output_tokens)

    def add_tool_results(self, turn: Turn, results: list[tuple[ToolCall, str, bool]]) -> None:
        blocks = [
            {"type": "tool_result", "tool_use_id": c.id, "content": out, "is_error": err}
            for c, out, err in results
        ]
        self.messages.append({"role": "user", "content": blocks})

    async def close(self) -> None:
        await self.client.close()


def make_provider(settings: AgentSettings, system: str, task: str) -> OpenAIChat | AnthropicChat:
    """Build the provider named by MODEL_PROVIDER (any other name: OpenAI-compatible)."""
    kind, base, retries = settings.provider, settings.base_url or None, settings.max_retries
    key = settings.api_key
    chat: OpenAIChat | AnthropicChat
    if kind == "anthropic":
        chat = AnthropicChat(
            settings, anthropic.AsyncAnthropic(api_key=key, base_url=base, max_retries=retries)
        )
    elif kind == "azure-openai":
        if not base:
            raise ProviderError(
                "azure-openai requires MODEL_BASE_URL (https://<resource>.openai.azure.com)"
            )
        client: openai.AsyncOpenAI = openai.AsyncAzureOpenAI(
            azure_endpoint=base,
            api_key=key,
            api_version=settings.azure_api_version,
            max_retries=retries,
        )
        chat = OpenAIChat(settings, client, _LABELS[kind])
    else:
        if kind == "ollama":
            base, key = base or DEFAULT_OLLAMA_URL, key or "ollama"
        client = openai.AsyncOpenAI(api_key=key or "unset", base_url=base, max_retries=retries)
        chat = OpenAIChat(settings, client, _LABELS.get(kind, f"{kind} (OpenAI-compatible)"))
    chat.start(system, task)
    return chat
