"""The one "run from instance" builder used by every entry point that creates runs.

CLI, TUI, API server, channel router and scheduler all call `build_run`, so every run
gets its provider, credentials, model, skills, sandbox defaults and labels from the
instance in the same way (upstream shipped runs without them: 401s, uncounted runs).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Literal

from k8sclaw_protocol import _names
from k8sclaw_protocol._agentrun import AgentRun, AgentRunSpec, ModelSpec, ParentRef, RunSandboxSpec
from k8sclaw_protocol._base import ObjectMeta, OwnerReference
from k8sclaw_protocol._cron import run_name, schedule_label
from k8sclaw_protocol._instance import ClawInstance, instance_provider
from k8sclaw_protocol._schedule import ClawSchedule

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


def heartbeat_session(schedule: str) -> str:
    """`LABEL_CHAT_SESSION` of a heartbeat's runs: one queue in the router per schedule,
    apart from the chat's own conversation (a heartbeat never waits for, or blocks, it)."""
    return hashlib.sha256(f"schedule\0{schedule}".encode()).hexdigest()[:16]


def build_scheduled_run(
    schedule: ClawSchedule, instance: ClawInstance, tick: datetime, *, manual: bool = False
) -> AgentRun:
    """The run of `schedule` for `tick` (or a manual trigger at `tick`), owned by it.

    Used by the schedule controller and by `k8sclaw schedules trigger`: the name is the
    tick's deterministic one (a retried create meets AlreadyExists, never a second run),
    the labels name the schedule and its type, and the only owner is the schedule
    (controller reference), so deleting the schedule deletes its runs.
    """
    run = build_run(
        instance,
        schedule.spec.task,
        source="scheduler",
        name=run_name(schedule.name, tick, manual=manual),
        session_key=f"schedule-{schedule.name}",
        labels={
            _names.LABEL_SCHEDULE: schedule_label(schedule.name),
            _names.LABEL_SCHEDULE_TYPE: schedule.spec.type,
        },
    )
    if not schedule.metadata.uid:
        raise ValueError(f"schedule {schedule.name!r} has no uid; read it from the API first")
    target = schedule.spec.delivery
    if target is not None:  # what the router reads back to post the result (as for a chat)
        run.metadata.labels[_names.LABEL_SOURCE_CHANNEL] = target.channel
        run.metadata.labels[_names.LABEL_CHAT_SESSION] = heartbeat_session(schedule.name)
        run.metadata.annotations[_names.ANNOTATION_SOURCE_CHAT] = target.chat_id
        if target.thread_id:
            run.metadata.annotations[_names.ANNOTATION_SOURCE_THREAD] = target.thread_id
    run.metadata.owner_references = [
        OwnerReference(
            api_version=_names.GROUP_VERSION,
            kind=schedule.info.kind,
            name=schedule.name,
            uid=schedule.metadata.uid,
            controller=True,
            block_owner_deletion=True,
        )
    ]
    return run
