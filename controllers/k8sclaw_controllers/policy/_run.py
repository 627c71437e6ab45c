"""`evaluate_run`: the one entry point judging an AgentRun against its ClawPolicy.

Pure: everything read from the cluster (the policy, how many runs of the instance are
active, the parent run's depth) is passed in, so the webhook and the controller's
pre-checks give the same answer and tests need no cluster.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from k8sclaw_controllers.policy import _confine, _rules, _tools
from k8sclaw_controllers.policy._decision import Decision, JsonPatchOp, Violation
from k8sclaw_protocol import AgentRun, ClawInstance, ClawPolicy, ResourceRequirements, names


def evaluate_run(
    run: AgentRun,
    policy: ClawPolicy | None,
    *,
    running_in_instance: int | None = None,
    parent_depth: int | None = None,
    instance: ClawInstance | None = None,
    skill_packs: Collection[str] | None = None,
) -> Decision:
    """Judge `run` and compute its mutation.

    `running_in_instance` counts the instance's Pending/Running runs other than this
    one (None skips the concurrency rule, e.g. on UPDATE); `parent_depth` is the
    spawn depth of the parent run (0 for a top-level run, None when unknown).
    `instance` (the run's ClawInstance) turns on the confinement rules (`_confine`),
    which hold with or without a policy; `skill_packs` names the SkillPacks the run may
    mount (None skips that existence check). Without a policy only these, the pod
    security and the lineage rules apply.
    """
    violations = _rules.pod_security(run) + _rules.spawn_depth(run, policy, parent_depth)
    if instance is not None:
        violations += confinement(run, policy, instance, skill_packs)
        violations += _rules.instance_spawn_depth(run, instance)
    if policy is not None:
        violations += (
            _rules.sandbox_required(run, policy)
            + _rules.resource_caps(_mutated(run, policy), policy)
            + _rules.feature_gates(run, policy)
            + _rules.tools(run, policy)
            + _rules.concurrency(run, policy, running_in_instance)
        )
    return Decision(
        policy=policy.name if policy is not None else None,
        violations=tuple(violations),
        patches=tuple(mutation_patches(run, policy, instance)),
    )


def confinement(
    run: AgentRun,
    policy: ClawPolicy | None,
    instance: ClawInstance,
    skill_packs: Collection[str] | None = None,
) -> list[Violation]:
    """The run's model binding, sandbox image and skill sources (SPEC §17)."""
    return (
        _confine.instance_binding(run, instance)
        + _confine.sandbox_image(run, policy, instance)
        + _confine.skill_sources(run, skill_packs)
    )


def mutation_patches(
    run: AgentRun, policy: ClawPolicy | None, instance: ClawInstance | None = None
) -> list[JsonPatchOp]:
    """JSON patch filling the instance label, the model binding the run left unset (from
    `instance`), the sandbox defaults and the toolPolicy.

    Each changed subtree is written whole with `add` (which replaces an existing
    member), so the patch never depends on which optional keys the object had.
    """
    before = run.to_wire()
    after = (_mutated(run, policy) if policy is not None else run).to_wire()
    if instance is not None and not _confine.instance_binding(run, instance):
        after["spec"]["model"] = _confine.bind(run, instance).to_wire()["spec"]["model"]
    labels = {**before["metadata"].get("labels", {}), names.LABEL_INSTANCE: run.spec.instance_ref}
    patches: list[JsonPatchOp] = []
    if labels != before["metadata"].get("labels", {}):
        patches.append({"op": "add", "path": "/metadata/labels", "value": labels})
    for key in ("model", "sandbox", "toolPolicy"):
        value: Any = after["spec"].get(key)
        if value is not None and value != before["spec"].get(key):
            patches.append({"op": "add", "path": f"/spec/{key}", "value": value})
    return patches


def _mutated(run: AgentRun, policy: ClawPolicy) -> AgentRun:
    """The run as the mutating webhook leaves it (without the label)."""
    mutated = run.model_copy(deep=True)
    sandbox = mutated.spec.sandbox
    rules = policy.spec.sandbox_policy
    if sandbox is not None and sandbox.enabled and rules is not None:
        if not sandbox.image and rules.default_image:
            sandbox.image = rules.default_image
        _fill_limits(mutated, policy)
    if not _rules.tools(run, policy):
        mutated.spec.tool_policy = _tools.effective_tool_policy(policy, run.spec.tool_policy)
    return mutated


def _fill_limits(run: AgentRun, policy: ClawPolicy) -> None:
    """A sandbox without a limit gets the policy's cap as its limit."""
    caps, _ = _rules.policy_caps(policy)
    if not caps or run.spec.sandbox is None:
        return
    resources = run.spec.sandbox.resources or ResourceRequirements()
    limits = dict(resources.limits or {})
    for resource, (text, _) in caps.items():
        limits.setdefault(resource, text)
    resources.limits = limits
    run.spec.sandbox.resources = resources
