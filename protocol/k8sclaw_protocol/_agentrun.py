"""AgentRun: one agent invocation, executed as one ephemeral Job of the same name."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from k8sclaw_protocol._base import (
    AGE_COLUMN,
    Conditions,
    CRModel,
    Duration,
    KindInfo,
    ObjectName,
    PrinterColumn,
    Resource,
)
from k8sclaw_protocol._budgets import RunCost
from k8sclaw_protocol._common import ResourceRequirements, SkillRef

RunPhase = Literal["Pending", "Running", "Succeeded", "Failed"]
TERMINAL_PHASES: frozenset[str] = frozenset({"Succeeded", "Failed"})
Cleanup = Literal["delete", "keep"]
Provider = Literal["openai", "anthropic", "azure-openai", "ollama", "openai-compatible"]
PROVIDERS: tuple[Provider, ...] = (
    "openai",
    "anthropic",
    "azure-openai",
    "ollama",
    "openai-compatible",
)


class ParentRef(CRModel):
    """Lineage of a sub-agent run."""

    run_name: ObjectName
    """AgentRun that spawned this one."""
    session_key: str
    """Session of the parent run."""
    spawn_depth: int = Field(ge=1, le=10)
    """1 for a direct child, 2 for a grandchild, ..."""


class ModelSpec(CRModel):
    """Which model answers, where, and with which credentials."""

    provider: str | None = Field(default=None, min_length=1, max_length=63)
    """openai, anthropic, azure-openai, ollama, or any OpenAI-compatible provider name;
    the instance's when unset, and refused when it differs from the instance's."""
    model: str = Field(min_length=1)
    """Model id, e.g. gpt-4o."""
    base_url: str | None = Field(default=None, alias="baseURL")
    """Endpoint; the instance's when unset, and refused when it differs from it."""
    thinking: str | None = None
    """Reasoning effort passed to models that support it."""
    auth_secret_ref: str | None = None
    """Secret whose keys (e.g. OPENAI_API_KEY) are injected into the agent container; the
    instance's when unset, and refused when it differs from the instance's."""


class SeccompProfile(CRModel):
    """Seccomp profile of the sandbox."""

    type: Literal["RuntimeDefault", "Localhost"] = "RuntimeDefault"
    """RuntimeDefault or Localhost (Unconfined is never allowed)."""


class Capabilities(CRModel):
    """Linux capabilities dropped from the sandbox."""

    drop: list[str] = Field(default_factory=lambda: ["ALL"])
    """Capabilities to drop; ALL by default."""


class SandboxSecurityContext(CRModel):
    """Hardening of the sandbox container (always at least 'restricted')."""

    read_only_root_filesystem: bool = True
    """Mount the root filesystem read-only."""
    run_as_non_root: bool = True
    """Refuse to run as UID 0."""
    capabilities: Capabilities | None = None
    """Capabilities to drop."""
    seccomp_profile: SeccompProfile | None = None
    """Seccomp profile."""


class RunSandboxSpec(CRModel):
    """Sandbox container of this run."""

    enabled: bool = False
    """Add the sandbox container."""
    image: str | None = None
    """Sandbox image (the policy default when empty)."""
    security_context: SandboxSecurityContext | None = None
    """Sandbox hardening."""
    resources: ResourceRequirements | None = None
    """Sandbox resources."""


class ToolPolicy(CRModel):
    """Tools this run may use; deny wins over allow."""

    allow: list[str] | None = None
    """Tools offered to the model; all tools the policy allows when unset."""
    deny: list[str] | None = None
    """Tools never offered or executed."""
    ask: list[str] | None = None
    """Tools offered to the model whose every call waits for a person's approval
    (ClawPolicy rules with action `ask`); a refused or unanswered call is reported to the
    model as refused."""
    approval_timeout_seconds: int | None = Field(default=None, ge=1, le=86400)
    """How long a call to an `ask` tool waits for a decision; 600 when unset."""


MAX_HISTORY_TURNS = 64
"""Most prior turns a run carries (newest kept)."""
MAX_HISTORY_BYTES = 48 * 1024
"""Most UTF-8 bytes of prior-turn text a run carries (newest kept): the spec travels in
the object (etcd's 1.5 MiB limit) and in the agent's environment."""


class HistoryTurn(CRModel):
    """One prior turn of the conversation, shown to the model before the task."""

    role: Literal["user", "assistant"]
    """Who said it: the person (user) or the agent (assistant)."""
    text: str = Field(max_length=MAX_HISTORY_BYTES)
    """What was said."""


def cap_history(turns: list[HistoryTurn]) -> list[HistoryTurn]:
    """The newest turns of `turns` (in order) that fit `MAX_HISTORY_TURNS` and
    `MAX_HISTORY_BYTES`; a single turn over the byte cap keeps its end."""
    kept: list[HistoryTurn] = []
    room = MAX_HISTORY_BYTES
    for turn in reversed(turns[-MAX_HISTORY_TURNS:]):
        size = len(turn.text.encode())
        if size > room:
            if not kept and room > 0:
                tail = turn.text.encode()[-room:].decode(errors="ignore")
                kept.append(HistoryTurn(role=turn.role, text=tail))
            break
        kept.append(turn)
        room -= size
    return kept[::-1]


class AgentRunSpec(CRModel):
    """Desired state of an AgentRun."""

    instance_ref: ObjectName
    """ClawInstance (same namespace) this run belongs to."""
    agent_id: str = Field(default="primary", min_length=1, max_length=253)
    """Agent configuration id."""
    session_key: str = Field(min_length=1, max_length=253)
    """Conversation this run belongs to; transcripts are kept per session."""
    parent: ParentRef | None = None
    """Set on sub-agent runs."""
    task: str = Field(min_length=1)
    """What the agent is asked to do."""
    history: list[HistoryTurn] | None = Field(default=None, max_length=MAX_HISTORY_TURNS)
    """Prior turns of the conversation (oldest first, at most 64 turns and 48 KiB of
    text), set by the channel router from the transcript store."""
    system_prompt: str | None = None
    """System prompt; a generic assistant prompt when empty."""
    model: ModelSpec
    """Model, endpoint and credentials."""
    sandbox: RunSandboxSpec | None = None
    """Sandbox container for command execution."""
    skills: list[SkillRef] = Field(default_factory=list)
    """Skills mounted into /skills."""
    tool_policy: ToolPolicy | None = None
    """Tool allow/deny lists (filled from the policy by the webhook)."""
    timeout: Duration = "10m"
    """Run deadline, e.g. 90s, 10m, 1h."""
    cleanup: Cleanup = "delete"
    """delete: the Job goes once the run ends; keep: the Job and pod stay for debugging."""


class TokenUsage(CRModel):
    """Token and tool usage of one run (validated and clamped: agent output is untrusted)."""

    input_tokens: int = Field(default=0, ge=0)
    """Prompt tokens."""
    output_tokens: int = Field(default=0, ge=0)
    """Completion tokens."""
    total_tokens: int = Field(default=0, ge=0)
    """Prompt plus completion tokens."""
    tool_calls: int = Field(default=0, ge=0)
    """Tool calls made."""
    duration_ms: int = Field(default=0, ge=0)
    """Wall time of the agent in milliseconds."""


class ChildRun(CRModel):
    """One sub-agent run of this run, as last seen by the controller."""

    name: ObjectName
    """The child AgentRun (same namespace)."""
    phase: RunPhase = "Pending"
    """Its phase."""


class PendingApproval(CRModel):
    """A call to an `ask`-gated tool waiting for a person's decision."""

    id: str = Field(min_length=1, max_length=32)
    """The approval id (the key of a decision)."""
    tool: str = Field(min_length=1, max_length=64)
    """The tool the agent wants to call."""
    summary: str = Field(default="", max_length=2048)
    """What the call would do (its arguments, capped)."""
    requested_at: datetime | None = None
    """When the agent asked."""
    expires_at: datetime | None = None
    """When an unanswered request is refused (`via: timeout`); a restarted controller
    re-arms the refusal from it."""


class AgentRunStatus(CRModel):
    """Observed state of an AgentRun; Succeeded and Failed are final."""

    phase: RunPhase | None = None
    """Pending, Running, Succeeded or Failed."""
    observed_generation: int | None = None
    """Generation last reconciled."""
    pod_name: str | None = None
    """Pod running the agent."""
    job_name: str | None = None
    """Job of this run (same name as the run)."""
    started_at: datetime | None = None
    """When the run became Running."""
    completed_at: datetime | None = None
    """When the run became Succeeded or Failed."""
    result: str | None = None
    """The agent's final answer."""
    error: str | None = None
    """Why the run failed."""
    exit_code: int | None = None
    """Exit code of the agent container."""
    token_usage: TokenUsage | None = None
    """Tokens and tool calls used."""
    cost: RunCost | None = None
    """Tokens and their cost by the price table (set when the run ends)."""
    conditions: Conditions = Field(default_factory=list)
    """Ready, Progressing and Failed conditions."""
    children: list[ChildRun] | None = None
    """Sub-agent runs this run spawned (names and phases), written by the controller."""
    pending_approvals: list[PendingApproval] | None = None
    """Tool calls waiting for a person's approval (approve or deny with the
    `k8sclaw.io/approval-decision` annotation, the API or the chat card)."""


class AgentRun(Resource):
    """One agent invocation, run as an ephemeral Kubernetes Job."""

    info = KindInfo(
        kind="AgentRun",
        plural="agentruns",
        label_name=True,
        singular="agentrun",
        short_names=("ar",),
        columns=(
            PrinterColumn("Instance", "string", ".spec.instanceRef"),
            PrinterColumn("Phase", "string", ".status.phase"),
            PrinterColumn("Model", "string", ".spec.model.model", priority=1),
            PrinterColumn("Pod", "string", ".status.podName", priority=1),
            PrinterColumn("Tokens", "integer", ".status.tokenUsage.totalTokens"),
            AGE_COLUMN,
        ),
    )

    spec: AgentRunSpec
    status: AgentRunStatus | None = None

    @property
    def phase(self) -> str:
        """Current phase; an unset phase reads as Pending."""
        return (self.status.phase if self.status else None) or "Pending"

    @property
    def is_terminal(self) -> bool:
        """Succeeded or Failed: never changes again."""
        return self.phase in TERMINAL_PHASES
