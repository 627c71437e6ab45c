"""The pure AgentRun -> Job builder (SPEC §4): one function, no I/O, heavily unit-tested.

The reconciler calls `build_job` with the run and its effective tool policy; the result is
a plain Kubernetes Job body whose pod passes the "restricted" Pod Security Standard.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from k8sclaw_controllers.manager import _buscreds, _settings
from k8sclaw_protocol import AgentRun, ResourceRequirements, cap_history, names

Body = dict[str, Any]

RUN_AS_ID = 65532  # the distroless "nonroot" user
IPC_DIR, WORKSPACE_DIR, SKILLS_DIR, MEMORY_DIR, TMP_DIR, SANDBOX_IPC_DIR = (
    "/ipc",
    "/workspace",
    "/skills",
    "/memory",
    "/tmp",
    "/ipc-sandbox",
)
SANDBOX_IPC_VOLUME = "ipc-sandbox"
"""The sandbox's own exchange volume (exec requests/results), shared with the agent only:
the sandbox never mounts `ipc`, so nothing it runs can write where the bridge publishes."""
DEADLINE_SLACK_SECONDS = 60

AGENT_RESOURCES = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}
BRIDGE_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "100m", "memory": "128Mi"},
}
SANDBOX_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "500m", "memory": "512Mi"},
}


@dataclass(frozen=True)
class JobOptions:
    """What the builder needs from the manager's settings."""

    images: _settings.Images
    event_bus_url: str
    ttl_seconds: int = 300
    default_timeout_seconds: float = 600.0
    bus_credentials: bool = False
    """Mount the run's bus creds Secret into the bridge (`_buscreds`; the controller
    creates the Secret before the Job)."""


@dataclass(frozen=True)
class Tools:
    """The effective tool policy handed to the agent (deny wins over allow).

    `allow` None grants every tool (TOOLS_ALLOW is left out of the pod); an empty tuple
    grants none (TOOLS_ALLOW is set to ""): `toolPolicy.allow: []` means "no tools".
    """

    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()
    ask: tuple[str, ...] = ()
    """Offered tools whose every call waits for a person's approval (TOOLS_ASK)."""
    approval_timeout: int | None = None
    """Seconds such a call waits (K8SCLAW_APPROVAL_TIMEOUT_SECONDS; the agent's default
    when None)."""


def run_timeout_seconds(run: AgentRun, default_seconds: float) -> float:
    """The run's timeout; the manager's default when the spec leaves it unset."""
    if "timeout" in run.spec.model_fields_set:
        return _settings.parse_duration(run.spec.timeout)
    return default_seconds


def pod_labels(run: AgentRun) -> dict[str, str]:
    """Labels of the agent pod: the shipped NetworkPolicies select on role and sandbox."""
    labels = {
        names.LABEL_ROLE: names.ROLE_AGENT,
        names.LABEL_AGENT_RUN: run.name,
        names.LABEL_INSTANCE: run.spec.instance_ref,
        names.LABEL_COMPONENT: names.COMPONENT_AGENT_RUN,
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
    }
    if has_sandbox(run):
        labels[names.LABEL_SANDBOX] = "true"
    return labels


def has_sandbox(run: AgentRun) -> bool:
    """True when the run asks for the sandbox container."""
    return bool(run.spec.sandbox and run.spec.sandbox.enabled)


def build_job(
    run: AgentRun,
    options: JobOptions,
    tools: Tools | None = None,
    budget_env: dict[str, str] | None = None,
) -> Body:
    """The Job of `run`: same name and namespace, owned by the run, restricted pod;
    `budget_env` carries the per-run spend cap to the agent (BUDGET_TOKENS, ...)."""
    if not run.metadata.uid:
        raise ValueError(f"run {run.name!r} has no uid; build Jobs only from stored runs")
    timeout = run_timeout_seconds(run, options.default_timeout_seconds)
    labels = pod_labels(run)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": names.job_name(run.name),
            "namespace": run.namespace,
            "labels": dict(labels),
            "ownerReferences": [
                {
                    "apiVersion": names.GROUP_VERSION,
                    "kind": "AgentRun",
                    "name": run.name,
                    "uid": run.metadata.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": options.ttl_seconds,
            "activeDeadlineSeconds": math.ceil(timeout) + DEADLINE_SLACK_SECONDS,
            "template": {
                "metadata": {"labels": labels},
                "spec": _pod_spec(run, options, tools or tools_from_spec(run), budget_env or {}),
            },
        },
    }


def tools_from_spec(run: AgentRun) -> Tools:
    """The run's own toolPolicy (the webhook has already merged the ClawPolicy into it)."""
    policy = run.spec.tool_policy
    if policy is None:
        return Tools()
    allow = None if policy.allow is None else tuple(policy.allow)
    return Tools(
        allow, tuple(policy.deny or ()), tuple(policy.ask or ()), policy.approval_timeout_seconds
    )


def _pod_spec(run: AgentRun, options: JobOptions, tools: Tools, budget_env: dict[str, str]) -> Body:
    containers = [_agent(run, options, tools, budget_env), _bridge(run, options, tools)]
    if has_sandbox(run):
        containers.append(_sandbox(run, options))
    return {
        "restartPolicy": "Never",
        "serviceAccountName": names.AGENT_SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_ID,
            "runAsGroup": RUN_AS_ID,
            "fsGroup": RUN_AS_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        "volumes": _volumes(run) + ([_buscreds.volume(run)] if options.bus_credentials else []),
    }


def _container_security() -> Body:
    return {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _env(pairs: dict[str, str]) -> list[Body]:
    return [{"name": k, "value": v} for k, v in pairs.items()]


def _agent(run: AgentRun, options: JobOptions, tools: Tools, budget_env: dict[str, str]) -> Body:
    spec = run.spec
    env = {
        "AGENT_RUN_ID": run.name,
        "AGENT_ID": spec.agent_id,
        "SESSION_KEY": spec.session_key,
        "INSTANCE_NAME": spec.instance_ref,
        "TASK": spec.task,
        "SYSTEM_PROMPT": spec.system_prompt or "",
        **_history_env(run),
        "MODEL_PROVIDER": spec.model.provider or "openai",
        "MODEL_NAME": spec.model.model,
        "MODEL_BASE_URL": spec.model.base_url or "",
        "THINKING_MODE": spec.model.thinking or "",
        **_tool_env(tools),
        "SPAWN_DEPTH": str(spec.parent.spawn_depth if spec.parent else 0),
        "EVENT_BUS_URL": options.event_bus_url,
        **_dirs(ipc=True, workspace=True, skills=True, memory=True, tmp=True),
        **_dirs(sandbox_ipc=has_sandbox(run)),
        **budget_env,
    }
    container: Body = {
        "name": names.CONTAINER_AGENT,
        "image": options.images.agent,
        "imagePullPolicy": "IfNotPresent",
        "env": _env(env),
        "resources": AGENT_RESOURCES,
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "workspace", "mountPath": WORKSPACE_DIR},
            {"name": "ipc", "mountPath": IPC_DIR},
            {"name": "tmp", "mountPath": TMP_DIR},
            {"name": "skills", "mountPath": SKILLS_DIR, "readOnly": True},
            {"name": "memory", "mountPath": MEMORY_DIR, "readOnly": True},
        ],
    }
    if has_sandbox(run):
        container["volumeMounts"].append({"name": SANDBOX_IPC_VOLUME, "mountPath": SANDBOX_IPC_DIR})
    if spec.model.auth_secret_ref:
        container["envFrom"] = [{"secretRef": {"name": spec.model.auth_secret_ref}}]
    return container


def _history_env(run: AgentRun) -> dict[str, str]:
    """Prior chat turns as JSON for the agent (capped again here: the spec is input)."""
    turns = cap_history(list(run.spec.history or []))
    if not turns:
        return {}
    return {names.ENV_HISTORY: json.dumps([t.model_dump() for t in turns], ensure_ascii=False)}


def _tool_env(tools: Tools) -> dict[str, str]:
    """The effective tool policy as the agent reads it; the bridge gets the same values
    (it enforces the policy on what it publishes)."""
    allow = {} if tools.allow is None else {"TOOLS_ALLOW": ",".join(tools.allow)}
    ask = {"TOOLS_ASK": ",".join(tools.ask)} if tools.ask else {}
    if tools.ask and tools.approval_timeout is not None:
        ask["K8SCLAW_APPROVAL_TIMEOUT_SECONDS"] = str(tools.approval_timeout)
    return {**allow, "TOOLS_DENY": ",".join(tools.deny), **ask}  # no TOOLS_ALLOW: every tool


def _dirs(**wanted: bool) -> dict[str, str]:
    paths = {
        "sandbox_ipc": SANDBOX_IPC_DIR,
        "ipc": IPC_DIR,
        "workspace": WORKSPACE_DIR,
        "skills": SKILLS_DIR,
        "memory": MEMORY_DIR,
        "tmp": TMP_DIR,
    }
    return {f"K8SCLAW_{k.upper()}_DIR": paths[k] for k, on in wanted.items() if on}


def _bridge(run: AgentRun, options: JobOptions, tools: Tools) -> Body:
    env = {
        "AGENT_RUN_ID": run.name,
        "INSTANCE_NAME": run.spec.instance_ref,
        "EVENT_BUS_URL": options.event_bus_url,
        **_dirs(ipc=True),
        **(_buscreds.bridge_env(run) if options.bus_credentials else {}),
        **_tool_env(tools),
    }
    # The bridge tags its bus events with the run's namespace (equal run names in two
    # namespaces must not collide); the downward API gives it the pod's own namespace.
    namespace = {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }
    return {
        "name": names.CONTAINER_IPC_BRIDGE,
        "image": options.images.ipc_bridge,
        "imagePullPolicy": "IfNotPresent",
        "env": [*_env(env), namespace],
        "resources": BRIDGE_RESOURCES,
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "ipc", "mountPath": IPC_DIR},
            *([_buscreds.bridge_mount()] if options.bus_credentials else []),
        ],
    }


def _sandbox(run: AgentRun, options: JobOptions) -> Body:
    sandbox = run.spec.sandbox
    assert sandbox is not None
    return {
        "name": names.CONTAINER_SANDBOX,
        "image": sandbox.image or options.images.sandbox,
        "imagePullPolicy": "IfNotPresent",
        "env": _env(_dirs(sandbox_ipc=True, workspace=True, tmp=True)),
        "resources": _resources(sandbox.resources) or SANDBOX_RESOURCES,
        # Always restricted, whatever the spec asks for: the pod must pass PSS "restricted".
        "securityContext": _container_security(),
        # No `ipc` mount: the sandbox cannot write where the bridge publishes.
        "volumeMounts": [
            {"name": "workspace", "mountPath": WORKSPACE_DIR},
            {"name": SANDBOX_IPC_VOLUME, "mountPath": SANDBOX_IPC_DIR},
            {"name": "tmp", "mountPath": TMP_DIR},
        ],
    }


def _resources(resources: ResourceRequirements | None) -> Body | None:
    if resources is None or not (resources.requests or resources.limits):
        return None
    return resources.to_wire()


def skill_configmaps(run: AgentRun) -> list[str]:
    """ConfigMaps projected into /skills, in spec order, without duplicates."""
    seen: dict[str, None] = {}
    for ref in run.spec.skills:
        for name in (ref.skill_pack_ref, ref.config_map_ref):
            if name:
                seen[name] = None
    return list(seen)


def _volumes(run: AgentRun) -> list[Body]:
    skills = skill_configmaps(run)
    skills_volume: Body = (
        {"projected": {"sources": [{"configMap": {"name": cm, "optional": True}} for cm in skills]}}
        if skills
        else {"emptyDir": {"sizeLimit": "1Mi"}}
    )
    sandbox: list[Body] = (
        [{"name": SANDBOX_IPC_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}]
        if has_sandbox(run)
        else []
    )
    return [
        {"name": "workspace", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "ipc", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "skills", **skills_volume},
        {
            "name": "memory",
            "configMap": {
                "name": names.memory_configmap_name(run.spec.instance_ref),
                "optional": True,
            },
        },
        *sandbox,
    ]
