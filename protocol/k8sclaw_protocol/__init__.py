"""K8sClaw's shared protocol: names, labels and the custom resource model.

This is the one definition imported by the CLI, TUI, controllers, webhook and sidecar.
It depends only on pydantic, PyYAML and nats-py so the slim in-cluster images can install it;
`events`, `ipc` and `EventBus` are the wire protocols of the bus and the agent pod.

The bus client is imported on first use: nats-py costs ~0.1 s to import, and most CLI
commands, the webhook and the TUI never touch the bus.
"""

from typing import TYPE_CHECKING, Any

from k8sclaw_protocol import _budgets as budgets
from k8sclaw_protocol import _busauth as busauth
from k8sclaw_protocol import _chat as chat
from k8sclaw_protocol import _events as events
from k8sclaw_protocol import _ipc as ipc
from k8sclaw_protocol import _names as names
from k8sclaw_protocol import _safefs as safefs
from k8sclaw_protocol._agentlog import AgentLogReader, LogPiece
from k8sclaw_protocol._agentrun import (
    PROVIDERS,
    TERMINAL_PHASES,
    AgentRun,
    AgentRunSpec,
    AgentRunStatus,
    ChildRun,
    HistoryTurn,
    ModelSpec,
    ParentRef,
    PendingApproval,
    RunSandboxSpec,
    TokenUsage,
    ToolPolicy,
    cap_history,
)
from k8sclaw_protocol._base import (
    DURATION_PATTERN,
    Condition,
    KindInfo,
    ObjectMeta,
    OwnerReference,
    Resource,
)
from k8sclaw_protocol._budgets import (
    BudgetLimit,
    Budgets,
    InstanceSpend,
    ModelPrice,
    RunCost,
    SpendPeriod,
)
from k8sclaw_protocol._common import ResourceRequirements, SandboxSpec, SecretKeyRef, SkillRef
from k8sclaw_protocol._cron import CronError, Timetable, run_name, schedule_label, timetable
from k8sclaw_protocol._events import Event
from k8sclaw_protocol._instance import (
    CHANNEL_TYPES,
    AgentDefaults,
    ChannelSpec,
    ChannelStatus,
    ClawInstance,
    ClawInstanceSpec,
    ClawInstanceStatus,
    instance_provider,
)
from k8sclaw_protocol._ipc import (
    AgentResult,
    ApprovalDecision,
    ApprovalRequest,
    ExecRequest,
    ExecResult,
    IpcLayout,
    MemoryUpdate,
    OutboundMessage,
    QuarantinedError,
    ResultMetrics,
    SpawnRequest,
    StatusUpdate,
    StreamChunk,
    SubagentResult,
    TaskInput,
)
from k8sclaw_protocol._kinds import KINDS, kind_for
from k8sclaw_protocol._names import VERSION
from k8sclaw_protocol._policy import (
    FEATURE_GATES,
    ClawPolicy,
    ClawPolicySpec,
    ClawPolicyStatus,
    ToolGating,
    ToolRule,
)
from k8sclaw_protocol._runbuilder import (
    MAX_RUN_NAME,
    RunSource,
    build_run,
    build_scheduled_run,
    instance_model,
)
from k8sclaw_protocol._schedule import (
    ClawSchedule,
    ClawScheduleSpec,
    ClawScheduleStatus,
    DeliveryTarget,
)
from k8sclaw_protocol._skillpack import Skill, SkillPack, SkillPackSpec, SkillPackStatus

if TYPE_CHECKING:
    from k8sclaw_protocol._bus import (
        Backoff,
        BusError,
        EventBus,
        PayloadTooLargeError,
        Subscription,
    )
    from k8sclaw_protocol._busjwt import BusKeys, UserCreds, mint_user

_LAZY_BUS = frozenset({"Backoff", "BusError", "EventBus", "PayloadTooLargeError", "Subscription"})
_LAZY_JWT = frozenset({"BusKeys", "UserCreds", "mint_user"})


def __getattr__(name: str) -> Any:
    """Load the NATS bus client only when one of its names is asked for (PEP 562)."""
    if name in _LAZY_BUS:
        from k8sclaw_protocol import _bus

        return getattr(_bus, name)
    if name in _LAZY_JWT:
        from k8sclaw_protocol import _busjwt

        return getattr(_busjwt, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = VERSION

__all__ = [
    "AgentDefaults",
    "AgentLogReader",
    "AgentResult",
    "AgentRun",
    "AgentRunSpec",
    "AgentRunStatus",
    "ApprovalDecision",
    "ApprovalRequest",
    "Backoff",
    "BudgetLimit",
    "Budgets",
    "BusError",
    "BusKeys",
    "CHANNEL_TYPES",
    "ChannelSpec",
    "ChannelStatus",
    "ChildRun",
    "ClawInstance",
    "ClawInstanceSpec",
    "ClawInstanceStatus",
    "ClawPolicy",
    "ClawPolicySpec",
    "ClawPolicyStatus",
    "ClawSchedule",
    "ClawScheduleSpec",
    "ClawScheduleStatus",
    "Condition",
    "CronError",
    "DURATION_PATTERN",
    "DeliveryTarget",
    "Event",
    "EventBus",
    "ExecRequest",
    "ExecResult",
    "FEATURE_GATES",
    "HistoryTurn",
    "InstanceSpend",
    "IpcLayout",
    "KINDS",
    "KindInfo",
    "LogPiece",
    "MAX_RUN_NAME",
    "MemoryUpdate",
    "ModelPrice",
    "ModelSpec",
    "ObjectMeta",
    "OutboundMessage",
    "OwnerReference",
    "PROVIDERS",
    "ParentRef",
    "PayloadTooLargeError",
    "PendingApproval",
    "QuarantinedError",
    "Resource",
    "ResourceRequirements",
    "ResultMetrics",
    "RunCost",
    "RunSandboxSpec",
    "RunSource",
    "SandboxSpec",
    "SecretKeyRef",
    "Skill",
    "SkillPack",
    "SkillPackSpec",
    "SkillPackStatus",
    "SkillRef",
    "SpawnRequest",
    "SpendPeriod",
    "StatusUpdate",
    "StreamChunk",
    "SubagentResult",
    "Subscription",
    "TERMINAL_PHASES",
    "TaskInput",
    "Timetable",
    "TokenUsage",
    "ToolGating",
    "ToolPolicy",
    "ToolRule",
    "UserCreds",
    "VERSION",
    "__version__",
    "budgets",
    "build_run",
    "build_scheduled_run",
    "busauth",
    "cap_history",
    "chat",
    "events",
    "instance_model",
    "instance_provider",
    "ipc",
    "kind_for",
    "mint_user",
    "names",
    "run_name",
    "safefs",
    "schedule_label",
    "timetable",
]
