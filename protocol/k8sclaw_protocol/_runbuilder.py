"""The one "run from instance" builder used by every entry point that creates runs.

CLI, TUI, API server, channel router and scheduler all call `build_run`, so every run
gets its provider, credentials, model, skills, sandbox defaults and labels from the
instance in the same way (upstream shipped runs without them: 401s, uncounted runs).
"""

from __future__ import annotations

import uuid
from typing import Literal

from k8sclaw_protocol import _names
from k8sclaw_protocol._agentrun import AgentRun, AgentRunSpec, ModelSpec, ParentRef, RunSandboxSpec
from k8sclaw_protocol._base import ObjectMeta, OwnerReference
from k8sclaw_protocol._instance import ClawInstance, instance_provider

RunSource = Literal["cli", "tui", "api", "router", "scheduler", "subagent"]
# Run names are also Job names and label values: at most 63 characters.
MAX_RUN_NAME = 63
_GENERATED_SUFFIX = 5


def build_run(
    instance: ClawInstance,
    task: str,
    *,
    source: RunSource,
    name: str | None = None,
    session_key: str | None = None,
    system_prompt: str | None = None,
    timeout: str | None = None,
    parent: ParentRef | None = None,
    labels: dict[str, str] | None = None,
) -> AgentRun:
    """An AgentRun of `instance` for `task`, ready to create in the instance's namespace.

    Without `name` the server generates one from `<instance>-run-`; callers that need
    idempotent creation (router, scheduler) pass a deterministic name.
    """
    if not task.strip():
        raise ValueError("task: must not be empty; say what the agent should do")
    if name is not None and len(name) > MAX_RUN_NAME:
        raise ValueError(f"name: {name!r} is longer than {MAX_RUN_NAME} characters")
    meta = ObjectMeta(
        name=name,
        generate_name=None if name else _generate_prefix(instance.name),
        namespace=instance.namespace or None,
        labels={**(labels or {}), **_run_labels(instance.name, source)},
        owner_references=_owner(instance),
    )
    spec = AgentRunSpec(
        instance_ref=instance.name,
        session_key=session_key or f"{source}-{uuid.uuid4().hex[:12]}",
        task=task,
        system_prompt=system_prompt or _memory_prompt(instance),
        model=instance_model(instance),
        sandbox=_sandbox(instance),
        skills=list(instance.spec.skills),
        parent=parent,
        timeout=timeout or _names.DEFAULT_RUN_TIMEOUT,
    )
    return AgentRun(metadata=meta, spec=spec)


def _generate_prefix(instance_name: str) -> str:
    room = MAX_RUN_NAME - _GENERATED_SUFFIX - len("-run-")
    return f"{instance_name[:room].rstrip('-.')}-run-"


def _run_labels(instance_name: str, source: RunSource) -> dict[str, str]:
    return {
        _names.LABEL_INSTANCE: instance_name,
        _names.LABEL_COMPONENT: source,
        _names.LABEL_MANAGED_BY: _names.MANAGED_BY,
    }


def _owner(instance: ClawInstance) -> list[OwnerReference]:
    """Runs belong to their instance, so deleting the instance cleans them up."""
    if not instance.metadata.uid:
        return []
    return [
        OwnerReference(
            api_version=_names.GROUP_VERSION,
            kind=instance.info.kind,
            name=instance.name,
            uid=instance.metadata.uid,
        )
    ]


def instance_model(instance: ClawInstance) -> ModelSpec:
    """The model binding of `instance`'s runs: provider, model, baseURL and auth Secret.

    Admission and the controller compare a run's provider, authSecretRef and baseURL
    with these (SPEC §17): a run may choose none of them itself.
    """
    default = instance.spec.agents.default
    provider = instance_provider(instance)
    return ModelSpec(
        provider=provider,
        model=default.model,
        base_url=default.base_url,
        thinking=default.thinking,
        auth_secret_ref=_auth_secret(instance, provider),
    )


def _auth_secret(instance: ClawInstance, provider: str) -> str | None:
    """The authRef for the provider, else the first one (the onboarding default)."""
    refs = instance.spec.auth_refs
    for ref in refs:
        if ref.provider == provider:
            return ref.secret
    return refs[0].secret if refs else None


def _sandbox(instance: ClawInstance) -> RunSandboxSpec | None:
    sandbox = instance.spec.agents.default.sandbox
    if sandbox is None or not sandbox.enabled:
        return None
    return RunSandboxSpec(enabled=True, image=sandbox.image, resources=sandbox.resources)


def _memory_prompt(instance: ClawInstance) -> str | None:
    memory = instance.spec.memory
    return memory.system_prompt if memory and memory.enabled else None
