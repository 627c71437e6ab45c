"""Every name K8sClaw shares across components: API group, labels, finalizers, images.

Controllers, webhook, CLI, TUI and sidecar import these constants instead of spelling
the strings again, so a renamed label can never select nothing (an upstream bug).
"""

from __future__ import annotations

from typing import Final

VERSION: Final = "0.1.0"

GROUP: Final = "k8sclaw.io"
API_VERSION: Final = "v1alpha1"
GROUP_VERSION: Final = f"{GROUP}/{API_VERSION}"
CATEGORY: Final = "k8sclaw"

SYSTEM_NAMESPACE: Final = "k8sclaw-system"
AGENT_SERVICE_ACCOUNT: Final = "k8sclaw-agent"
CONTROLLER_SERVICE_ACCOUNT: Final = "k8sclaw-controller"
# A namespace opts in to K8sClaw (SPEC §17, docs/security.md "## RBAC"): `k8sclaw onboard`
# labels it and binds the controller's write role there with a RoleBinding; the controller
# can write nowhere else.
LABEL_TENANT: Final = f"{GROUP}/tenant"
TENANT_LABEL_VALUE: Final = "true"
CONTROLLER_TENANT_ROLE: Final = "k8sclaw-controller-tenant"
CONTROLLER_TENANT_BINDING: Final = "k8sclaw-controller"
NATS_SERVICE: Final = "nats"
NATS_PORT: Final = 4222
EVENT_BUS_URL: Final = f"nats://{NATS_SERVICE}.{SYSTEM_NAMESPACE}.svc:{NATS_PORT}"

# Labels set on every object K8sClaw creates (reference §2, SPEC §3).
LABEL_INSTANCE: Final = f"{GROUP}/instance"
LABEL_AGENT_RUN: Final = f"{GROUP}/agent-run"
LABEL_COMPONENT: Final = f"{GROUP}/component"
LABEL_ROLE: Final = f"{GROUP}/role"
LABEL_SANDBOX: Final = f"{GROUP}/sandbox"
LABEL_SCHEDULE: Final = f"{GROUP}/schedule"
LABEL_SCHEDULE_TYPE: Final = f"{GROUP}/type"
LABEL_CHANNEL: Final = f"{GROUP}/channel"
LABEL_SKILLPACK: Final = f"{GROUP}/skillpack"
LABEL_PARENT_RUN: Final = f"{GROUP}/parent-run"
"""On a sub-agent run: the name of the run that spawned it (children are listed by it)."""
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_PART_OF: Final = "app.kubernetes.io/part-of"
LABEL_NAME: Final = "app.kubernetes.io/name"

# Where a chat-started run came from (set by the router, read by the router to reply and
# by the approval relay to post cards in the same thread). Label: the channel type (for
# selectors); annotations: platform ids, which are not valid label values.
LABEL_SOURCE_CHANNEL: Final = f"{GROUP}/source-channel"
ANNOTATION_SOURCE_CHAT: Final = f"{GROUP}/source-chat"
ANNOTATION_SOURCE_THREAD: Final = f"{GROUP}/source-thread"
ANNOTATION_SOURCE_SENDER: Final = f"{GROUP}/source-sender"
ANNOTATION_SOURCE_MESSAGE: Final = f"{GROUP}/source-message"
LABEL_CHAT_SESSION: Final = f"{GROUP}/chat-session"
"""On a chat-started run: a hash of (instance, channel, chat, thread), so the router lists
the runs of one conversation with a selector (platform ids are not label values)."""
ANNOTATION_REPLY_SENT: Final = f"{GROUP}/reply-sent"
"""Set by the router once the run's reply is on the bus: it is never posted twice."""
ANNOTATION_QUEUED_SENT: Final = f"{GROUP}/queued-sent"
"""Set by the router once the "queued" acknowledgement of a waiting run is on the bus."""
ENV_HISTORY: Final = "HISTORY"
"""Agent container variable: the run's `spec.history` as JSON (prior turns of the chat)."""
ANNOTATION_APPROVAL_DECISION: Final = f"{GROUP}/approval-decision"
"""A person's decision on a pending approval of the run, as JSON `{"id", "decision"}`
(optionally `"reason"`). The admission webhook stamps `decidedBy` with the requesting
user; the controller publishes the decision and removes the annotation."""
MANAGED_BY: Final = "k8sclaw"
ROLE_AGENT: Final = "agent"

FINALIZER_AGENT_RUN: Final = f"{GROUP}/agentrun-finalizer"
FINALIZER_INSTANCE: Final = f"{GROUP}/instance-finalizer"
FINALIZER_SCHEDULE: Final = f"{GROUP}/schedule-finalizer"

# Container names and image repositories of the agent pod and the control plane.
CONTAINER_AGENT: Final = "agent"
CONTAINER_IPC_BRIDGE: Final = "ipc-bridge"
CONTAINER_SANDBOX: Final = "sandbox"
IMAGE_REGISTRY: Final = "ghcr.io/k8sclaw"
IMAGE_CONTROLLER: Final = f"{IMAGE_REGISTRY}/controller"
IMAGE_APISERVER: Final = f"{IMAGE_REGISTRY}/apiserver"
IMAGE_WEBHOOK: Final = f"{IMAGE_REGISTRY}/webhook"
IMAGE_IPC_BRIDGE: Final = f"{IMAGE_REGISTRY}/ipc-bridge"
IMAGE_AGENT_RUNNER: Final = f"{IMAGE_REGISTRY}/agent-runner"
IMAGE_SANDBOX: Final = f"{IMAGE_REGISTRY}/sandbox"
IMAGE_CHANNEL: Final = f"{IMAGE_REGISTRY}/channel"

DEFAULT_RUN_TIMEOUT: Final = "10m"
DEFAULT_RUN_HISTORY_LIMIT: Final = 50


def image(repository: str, tag: str = VERSION) -> str:
    """Pin an image to a release tag; never `latest` (reference §15, tag drift)."""
    return f"{repository}:{tag}"


def job_name(run_name: str) -> str:
    """The Job of an AgentRun has the run's name, so a restart can never duplicate it."""
    return run_name


def channel_deployment_name(instance: str, channel_type: str) -> str:
    """Deterministic name of the Deployment serving one channel of an instance."""
    return f"{instance}-channel-{channel_type}"


def memory_configmap_name(instance: str) -> str:
    """ConfigMap holding an instance's persistent memory."""
    return f"{instance}-memory"


def provider_secret_name(instance: str, provider: str) -> str:
    """Secret the onboarding wizard writes the provider API key to."""
    return f"{instance}-{provider}-key"


def channel_secret_name(instance: str, channel_type: str) -> str:
    """Secret the onboarding wizard writes a channel token to."""
    return f"{instance}-{channel_type}-secret"


# The agent prints `__K8SCLAW_RESULT__<json>__K8SCLAW_END__` on stdout as the fallback
# result channel; the controller parses the last such block from the pod log.
RESULT_MARKER_START: Final = "__K8SCLAW_RESULT__"
RESULT_MARKER_END: Final = "__K8SCLAW_END__"
# Before the marker, stdout carries the streamed answer text and one line per tool call
# starting with this prefix (`→ execute_command: cat notes.txt`), for `kubectl logs -f`.
TOOL_LINE_PREFIX: Final = "→ "
COMPONENT_AGENT_RUN: Final = "agent-run"
COMPONENT_CHANNEL: Final = "channel"
COMPONENT_SKILLPACK: Final = "skillpack"
COMPONENT_MEMORY: Final = "memory"
MEMORY_KEY: Final = "MEMORY.md"

# Admission webhook (issue #8): service, TLS Secret, configurations and paths. The
# installer ships configurations with exactly these names and paths.
WEBHOOK_SERVICE: Final = "k8sclaw-webhook"
WEBHOOK_PORT: Final = 8443
WEBHOOK_TLS_SECRET: Final = "k8sclaw-webhook-tls"
WEBHOOK_CONFIGURATION: Final = "k8sclaw-webhook"
WEBHOOK_PATH_VALIDATE_AGENTRUN: Final = "/validate-agentrun"
WEBHOOK_PATH_MUTATE_AGENTRUN: Final = "/mutate-agentrun"
WEBHOOK_PATH_VALIDATE_POLICY: Final = "/validate-clawpolicy"
WEBHOOK_PATH_VALIDATE_SKILLPACK: Final = "/validate-skillpack"
WEBHOOK_PATH_VALIDATE_INSTANCE: Final = "/validate-clawinstance"

# Tool names shared by the agent runner (which offers them) and the policy engine
# (which gates them); feature gates switch groups of these off.
TOOL_EXECUTE_COMMAND: Final = "execute_command"
TOOL_READ_FILE: Final = "read_file"
TOOL_WRITE_FILE: Final = "write_file"
TOOL_LIST_DIRECTORY: Final = "list_directory"
TOOL_FETCH_URL: Final = "fetch_url"
TOOL_SEND_CHANNEL_MESSAGE: Final = "send_channel_message"
TOOL_SPAWN_SUBAGENT: Final = "spawn_subagent"
TOOL_UPDATE_MEMORY: Final = "update_memory"
# Browser tools (none ship yet) are named browser_<action>; `browser-automation` gates them.
TOOL_BROWSER_PREFIX: Final = "browser_"
TOOLS: Final = (
    TOOL_EXECUTE_COMMAND,
    TOOL_READ_FILE,
    TOOL_WRITE_FILE,
    TOOL_LIST_DIRECTORY,
    TOOL_FETCH_URL,
    TOOL_SEND_CHANNEL_MESSAGE,
    TOOL_SPAWN_SUBAGENT,
    TOOL_UPDATE_MEMORY,
)

# NetworkPolicies generated per run namespace select agent pods by these labels; NATS
# pods in the system namespace must carry LABEL_NAME=NATS_APP_NAME to be reachable.
NATS_APP_NAME: Final = "nats"
SANDBOX_LABEL_VALUE: Final = "true"
LABEL_NAMESPACE_NAME: Final = "kubernetes.io/metadata.name"
