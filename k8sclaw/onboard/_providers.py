"""The provider and channel tables of the onboarding wizard (seed README, reference §9.3)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    """One AI provider choice with its defaults."""

    name: str
    label: str
    key_env: str | None  # key name inside the Secret; None = no key needed
    default_model: str
    default_base_url: str | None = None
    needs_base_url: bool = False


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("openai", "OpenAI", "OPENAI_API_KEY", "gpt-4o"),
        Provider("anthropic", "Anthropic", "ANTHROPIC_API_KEY", "claude-sonnet-4-20250514"),
        Provider(
            "azure-openai", "Azure OpenAI", "AZURE_OPENAI_API_KEY", "gpt-4o", needs_base_url=True
        ),
        Provider(
            "ollama",
            "Ollama (local models, no key)",
            None,
            "llama3",
            "http://ollama.default.svc:11434/v1",
            needs_base_url=True,
        ),
        Provider(
            "openai-compatible",
            "Any OpenAI-compatible endpoint",
            "API_KEY",
            "gpt-4o",
            needs_base_url=True,
        ),
    )
}


@dataclass(frozen=True)
class Channel:
    """One chat channel choice and the Secret key its token goes under."""

    name: str
    label: str
    token_env: str
    token_hint: str


CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in (
        Channel("telegram", "Telegram", "TELEGRAM_BOT_TOKEN", "from @BotFather"),
        Channel("slack", "Slack", "SLACK_BOT_TOKEN", "the Bot User OAuth token (xoxb-...)"),
        Channel("discord", "Discord", "DISCORD_BOT_TOKEN", "Developer Portal → Bot → Token"),
        Channel("whatsapp", "WhatsApp", "WHATSAPP_ACCESS_TOKEN", "Cloud API access token"),
    )
}
