"""ClawPolicy: sandbox, sub-agent, tool, feature and network rules for instances."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from k8sclaw_protocol._base import (
    AGE_COLUMN,
    Conditions,
    CRModel,
    KindInfo,
    PrinterColumn,
    Quantity,
    Resource,
)
from k8sclaw_protocol._budgets import Budgets

ToolAction = Literal["allow", "deny", "ask"]
FeatureGate = Literal[
    "code-execution",
    "sub-agents",
    "browser-automation",
    "file-access",
    "network-access",
    "cross-chat-messages",
]
FEATURE_GATES: tuple[FeatureGate, ...] = (
    "code-execution",
    "sub-agents",
    "browser-automation",
    "file-access",
    "network-access",
    "cross-chat-messages",
)
"""`cross-chat-messages` is opt-in (only an explicit `true` enables it): it lets a run's
`send_channel_message` reach chats of its instance other than the one it serves."""


class SandboxPolicy(CRModel):
    """Rules for the sandbox container."""

    required: bool = False
    """Every run must enable the sandbox."""
    default_image: str | None = None
    """Image injected when a run enables the sandbox without one."""
    allowed_images: list[str] | None = Field(default=None, max_length=64)
    """Images a run's sandbox may use; when unset, only the default image (defaultImage,
    else the release's sandbox image). A run naming any other image is refused."""
    max_cpu: Quantity | None = Field(default=None, alias="maxCPU")
    """Largest CPU limit a sandbox may ask for."""
    max_memory: Quantity | None = None
    """Largest memory limit a sandbox may ask for."""
    allow_host_mounts: bool = False
    """Allow hostPath volumes in the sandbox (never by default)."""


class SubagentPolicy(CRModel):
    """Limits on sub-agents and concurrency."""

    max_depth: int = Field(default=3, ge=0, le=10)
    """Deepest allowed sub-agent nesting."""
    max_concurrent: int = Field(default=5, ge=1, le=1000)
    """Most runs of one instance Running at once."""


class ToolRule(CRModel):
    """Action for one tool."""

    tool: str = Field(min_length=1, max_length=128)
    """Tool name, e.g. execute_command."""
    action: ToolAction
    """allow, deny or ask."""


class ToolGating(CRModel):
    """Which tools agents may use."""

    default_action: ToolAction = "allow"
    """Action for tools without a rule."""
    rules: list[ToolRule] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["tool"]},
    )
    """Per-tool rules."""
    approval_timeout_seconds: int | None = Field(default=None, ge=1, le=86400)
    """How long a call to an `ask` tool waits for a person's decision before it is
    refused; 600 when unset."""


class EgressRule(CRModel):
    """A destination agent pods may reach."""

    host: str = Field(min_length=1, max_length=253)
    """Host name or CIDR."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """TCP port; any port when unset."""


class NetworkPolicySpec(CRModel):
    """Network isolation of agent pods (rendered as NetworkPolicies)."""

    deny_all: bool = True
    """Deny all traffic not allowed below."""
    allow_dns: bool = Field(default=True, alias="allowDNS")
    """Allow DNS lookups."""
    allow_event_bus: bool = True
    """Allow the NATS event bus."""
    allowed_egress: list[EgressRule] = Field(default_factory=list)
    """Extra destinations."""


class ClawPolicySpec(CRModel):
    """Desired state of a ClawPolicy."""

    sandbox_policy: SandboxPolicy | None = None
    """Sandbox rules."""
    subagent_policy: SubagentPolicy | None = None
    """Sub-agent and concurrency limits."""
    tool_gating: ToolGating | None = None
    """Tool rules."""
    feature_gates: dict[str, bool] = Field(default_factory=dict)
    """Feature switches: code-execution, sub-agents, browser-automation, file-access,
    network-access, cross-chat-messages (opt-in; unknown names are refused by the admission
    webhook)."""
    network_policy: NetworkPolicySpec | None = None
    """Network isolation."""
    budgets: Budgets | None = None
    """Spend ceilings per run, per instance per day/month, per namespace per month."""


class ClawPolicyStatus(CRModel):
    """Observed state of a ClawPolicy."""

    bound_instances: int = Field(default=0, ge=0)
    """ClawInstances referencing this policy."""
    observed_generation: int | None = None
    """Generation last reconciled."""
    conditions: Conditions = Field(default_factory=list)
    """Ready condition."""


class ClawPolicy(Resource):
    """Governance for agent runs, enforced at admission time."""

    info = KindInfo(
        kind="ClawPolicy",
        plural="clawpolicies",
        singular="clawpolicy",
        short_names=("cp",),
        columns=(
            PrinterColumn("Bound", "integer", ".status.boundInstances"),
            PrinterColumn("Default Tools", "string", ".spec.toolGating.defaultAction", priority=1),
            AGE_COLUMN,
        ),
    )

    spec: ClawPolicySpec = Field(default_factory=ClawPolicySpec)
    status: ClawPolicyStatus | None = None
