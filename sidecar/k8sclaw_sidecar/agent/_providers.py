"""Model providers behind one small interface, via the official SDKs, streaming.

OpenAI, Azure OpenAI, Ollama (its OpenAI-compatible `/v1`) and any OpenAI-compatible
server speak Chat Completions through the `openai` SDK (`_openai_chat`); Anthropic
speaks Messages through `anthropic` (`_anthropic_chat`). The SDKs retry 429/5xx with
back-off honouring Retry-After before a stream starts; auth, permission, not-found and
quota errors become a `ProviderError` with a message a person can act on.
"""

from __future__ import annotations

import anthropic
import openai

from k8sclaw_sidecar.agent._anthropic_chat import AnthropicChat
from k8sclaw_sidecar.agent._model import OnText, Provider, ProviderError, ToolCall, Turn
from k8sclaw_sidecar.agent._openai_chat import OpenAIChat
from k8sclaw_sidecar.agent._settings import DEFAULT_OLLAMA_URL, AgentSettings

__all__ = [
    "AnthropicChat",
    "OnText",
    "OpenAIChat",
    "Provider",
    "ProviderError",
    "ToolCall",
    "Turn",
    "make_provider",
]

_LABELS = {"openai": "OpenAI", "azure-openai": "Azure OpenAI", "ollama": "Ollama"}


def make_provider(settings: AgentSettings, system: str, task: str) -> Provider:
    """Build the provider named by MODEL_PROVIDER (any other name: OpenAI-compatible)."""
    kind, base, retries = settings.provider, settings.base_url or None, settings.max_retries
    key = settings.api_key
    chat: Provider
    if kind == "anthropic":
        client = anthropic.AsyncAnthropic(api_key=key, base_url=base, max_retries=retries)
        chat = AnthropicChat(settings.model, client)
    elif kind == "azure-openai":
        if not base:
            raise ProviderError(
                "azure-openai requires MODEL_BASE_URL (https://<resource>.openai.azure.com)"
            )
        azure = openai.AsyncAzureOpenAI(
            azure_endpoint=base,
            api_key=key,
            api_version=settings.azure_api_version,
            max_retries=retries,
        )
        chat = OpenAIChat(settings.model, azure, _LABELS[kind])
    else:
        if kind == "ollama":
            base, key = base or DEFAULT_OLLAMA_URL, key or "ollama"
        compatible = openai.AsyncOpenAI(api_key=key or "unset", base_url=base, max_retries=retries)
        chat = OpenAIChat(
            settings.model, compatible, _LABELS.get(kind, f"{kind} (OpenAI-compatible)")
        )
    chat.start(system, task, settings.history)
    return chat
