"""ClawInstance: one tenant's agent gateway (channels, default agent, skills, policy)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from k8sclaw_protocol._base import (
    AGE_COLUMN,
    Conditions,
    CRModel,
    KindInfo,
    ObjectName,
    PrinterColumn,
    Resource,
)
from k8sclaw_protocol._budgets import Budgets, InstanceSpend, ModelPrice
from k8sclaw_protocol._common import SandboxSpec, SecretKeyRef, SkillRef, SubagentsSpec

ChannelType = Literal["telegram", "slack", "discord", "whatsapp"]
CHANNEL_TYPES: tuple[ChannelType, ...] = ("telegram", "slack", "discord", "whatsapp")
ThinkingMode = Literal["off", "low", "medium", "high"]
InstancePhase = Literal["Pending", "Running", "Error"]
ChannelPhase = Literal["Pending", "Connected", "Disconnected", "Error"]
ChannelMode = Literal["poll", "socket", "webhook"]


class ConfigRef(CRModel):
    """Where a channel's credentials live."""

    secret: ObjectName
    """Secret whose keys become environment variables of the channel pod."""


class ChannelSpec(CRModel):
    """One chat channel connected to the instance."""

    type: ChannelType
    """Channel kind: telegram, slack, discord or whatsapp."""
    config_ref: ConfigRef
    """Credentials of the channel."""
    allowed_senders: list[str] | None = None
    """If set, only these sender ids may start runs through this channel."""
    allowed_chats: list[str] | None = None
    """If set, only messages in these chat ids start runs (others are ignored)."""
    approvers: list[str] | None = None
    """Sender ids who may approve or deny `ask`-gated tool calls from the chat."""
    mode: ChannelMode | None = None
    """How the pod hears the platform: `poll` (Telegram default), `socket` (Slack Socket
    Mode, Discord gateway; default) or `webhook` (WhatsApp always; needs a Service)."""
    webhook_host: str | None = Field(default=None, max_length=253)
    """Public host name for webhook mode: an Ingress routes it to the channel's Service."""


class AgentDefaults(CRModel):
    """Model and limits every run of the instance starts from."""

    model: str = Field(min_length=1)
    """Model name, e.g. gpt-4o or claude-sonnet-4-20250514."""
    provider: str | None = Field(default=None, max_length=63)
    """Model provider; when empty it is taken from authRefs[0].provider."""
    base_url: str | None = Field(default=None, alias="baseURL")
    """Endpoint override for OpenAI-compatible, Azure and Ollama providers."""
    thinking: ThinkingMode | None = None
    """Reasoning effort for models that support it."""
    sandbox: SandboxSpec | None = None
    """Sandbox defaults for runs of this instance."""
    subagents: SubagentsSpec | None = None
    """Sub-agent limits."""


class AgentsSpec(CRModel):
    """Agent configuration of the instance."""

    default: AgentDefaults
    """The default agent."""


class MemorySpec(CRModel):
    """Persistent memory carried from run to run (ConfigMap <instance>-memory)."""

    enabled: bool = True
    """Keep and mount the memory ConfigMap."""
    max_size_kb: int = Field(default=256, ge=1, le=1024, alias="maxSizeKB")
    """Upper bound of the memory document in KiB."""
    system_prompt: str | None = None
    """Extra system prompt text telling the agent how to use memory."""


class ClawInstanceSpec(CRModel):
    """Desired state of a ClawInstance."""

    channels: list[ChannelSpec] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Chat channels; at most one of each type."""
    agents: AgentsSpec
    """Agent defaults used by every run of this instance."""
    skills: list[SkillRef] = Field(default_factory=list)
    """Skills mounted into every run."""
    policy_ref: ObjectName | None = None
    """ClawPolicy (same namespace) that governs this instance's runs."""
    auth_refs: list[SecretKeyRef] = Field(default_factory=list)
    """Secrets with model provider API keys; the first is used by default."""
    memory: MemorySpec | None = None
    """Persistent memory settings."""
    budgets: Budgets | None = None
    """Spend ceilings overriding the policy's, key by key (run, instanceDaily, ...)."""
    prices: list[ModelPrice] | None = Field(default=None, max_length=64)
    """Model prices overriding the shipped table (e.g. zero for a self-hosted model)."""


class ChannelStatus(CRModel):
    """Observed state of one channel."""

    type: ChannelType
    """Channel kind."""
    status: ChannelPhase
    """Pending, Connected, Disconnected or Error."""
    last_health_check: datetime | None = None
    """Last health report from the channel pod."""
    message: str | None = None
    """Detail for Disconnected or Error."""


class TokenTotals(CRModel):
    """Token usage summed over all runs."""

    input_tokens: int = Field(default=0, ge=0)
    """Prompt tokens."""
    output_tokens: int = Field(default=0, ge=0)
    """Completion tokens."""
    total_tokens: int = Field(default=0, ge=0)
    """Prompt plus completion tokens."""


class ClawInstanceStatus(CRModel):
    """Observed state of a ClawInstance."""

    phase: InstancePhase | None = None
    """Pending, Running or Error."""
    observed_generation: int | None = None
    """Generation last reconciled."""
    channels: list[ChannelStatus] = Field(default_factory=list)
    """Per-channel status."""
    active_agent_pods: int = Field(default=0, ge=0)
    """Runs of this instance currently Running."""
    total_agent_runs: int = Field(default=0, ge=0)
    """Runs ever started for this instance."""
    token_usage: TokenTotals | None = None
    """Token totals over all finished runs."""
    spend: InstanceSpend | None = None
    """Tokens and cost today and this month (budgets count against these)."""
    conditions: Conditions = Field(default_factory=list)
    """Ready, Progressing and Failed conditions."""


class ClawInstance(Resource):
    """A tenant's agent gateway: channels, default agent, skills and policy."""

    info = KindInfo(
        kind="ClawInstance",
        plural="clawinstances",
        label_name=True,
        singular="clawinstance",
        short_names=("ci",),
        columns=(
            PrinterColumn("Phase", "string", ".status.phase"),
            PrinterColumn("Model", "string", ".spec.agents.default.model", priority=1),
            PrinterColumn("Policy", "string", ".spec.policyRef", priority=1),
            PrinterColumn("Active", "integer", ".status.activeAgentPods"),
            PrinterColumn("Runs", "integer", ".status.totalAgentRuns"),
            AGE_COLUMN,
        ),
    )

    spec: ClawInstanceSpec
    status: ClawInstanceStatus | None = None


def instance_provider(instance: ClawInstance) -> str:
    """Provider of an instance: explicit, else from the first authRef, else openai."""
    default = instance.spec.agents.default
    if default.provider:
        return default.provider
    for ref in instance.spec.auth_refs:
        if ref.provider:
            return ref.provider
    return "openai"
