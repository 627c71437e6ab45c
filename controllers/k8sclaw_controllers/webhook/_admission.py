"""The four admission handlers: AgentRun validate/mutate, ClawPolicy and SkillPack validate.

Each turns an `AdmissionRequest` into a `Decision` by reading what it needs from a
`Source` and calling the pure policy engine. Rules that always hold:
- objects being deleted (DELETE, or UPDATE with a deletionTimestamp, e.g. finalizer
  removal) are admitted untouched, even when their instance or policy is gone;
- subresource writes (`agentruns/status`: the controller's progress) are never judged;
- an UPDATE that leaves `spec` unchanged (finalizers, labels, annotations) is admitted;
- an UPDATE changing the spec of a run that has started (status has a phase or a Job)
  is denied: the Job was built and judged from the old spec (`spec.immutable`);
- concurrency is counted on CREATE only (an existing run is already counted);
- a run whose instance has no policyRef passes the policy rules; the confinement rules
  (model binding from the instance, sandbox image, SkillPack-only skills) and the
  DNS-1123 name rule hold for every run; mutation labels and fills the model binding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pydantic

from k8sclaw_controllers.policy import (
    Decision,
    Violation,
    evaluate_run,
    mutation_patches,
    name_token,
    policy_warnings,
    spec_immutable,
    validate_policy,
    validate_skillpack,
)
from k8sclaw_controllers.webhook._approval import stamp_patches
from k8sclaw_controllers.webhook._review import AdmissionRequest
from k8sclaw_controllers.webhook._source import Source
from k8sclaw_protocol import AgentRun, ClawInstance, ClawPolicy, SkillPack, budgets

ALLOW = Decision()
MAX_REMEMBERED = 10_000
"""Instance -> policy name guesses kept; the map is reset beyond this."""


@dataclass(frozen=True)
class _Context:
    """The run's instance and policy (or the violation explaining why one is missing)."""

    policy: ClawPolicy | None
    problem: Violation | None = None
    instance: ClawInstance | None = None


def _invalid(kind: str, error: pydantic.ValidationError) -> Decision:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    text = f"{kind} is malformed at {where}: {first['msg']}"
    return Decision(violations=(Violation("schema", text),))


def _spec_unchanged(request: AdmissionRequest) -> bool:
    return request.operation == "UPDATE" and (request.old_object or {}).get(
        "spec"
    ) == request.object.get("spec")


def _passes_untouched(request: AdmissionRequest) -> bool:
    """Deletions and subresource writes, which no rule may block."""
    return request.being_deleted or bool(request.sub_resource)


def _frozen(request: AdmissionRequest) -> Decision | None:
    """The denial of a spec change to a started run, None for anything else."""
    if request.operation != "UPDATE" or not isinstance(request.old_object, dict):
        return None
    found = spec_immutable(request.old_object, request.object)
    return Decision(violations=tuple(found)) if found else None


async def _budget_spent(source: Source, context: _Context, now: datetime) -> Violation | None:
    """A new run of an instance whose day or month budget, or whose namespace's monthly
    budget, is already spent is refused here (the controller checks again at dispatch)."""
    instance = context.instance
    if instance is None:
        return None
    policy = context.policy.spec.budgets if context.policy else None
    limits = budgets.merged(policy, instance.spec.budgets)
    if limits is None:
        return None
    namespace = None
    if limits.namespace_monthly is not None:
        spends = await source.instance_spends(instance.namespace)
        namespace = budgets.month_total(spends, now)
    spend = instance.status.spend if instance.status else None
    usage = budgets.first_spent(limits, spend, now, namespace)
    if usage is None:
        return None
    return Violation(usage.budget, f"ClawInstance {instance.name} {usage.spent()}")


async def _nothing() -> set[str]:
    return set()


class Admission:
    """Judges admission requests with live reads from `source`.

    The instance and its policy are fetched concurrently: the policy name is taken
    from what the instance named last time (`_policy_refs`), and only when the live
    instance names another policy is a second read made. Both reads are live, so the
    guess only saves a round trip, never serves stale data.
    """

    def __init__(
        self, source: Source, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._source = source
        self._clock = clock
        """Where budget periods read the time (tests give a fixed one)."""
        self._policy_refs: dict[tuple[str, str], str] = {}

    async def _context(self, run: AgentRun, namespace: str) -> _Context:
        name = run.spec.instance_ref
        guess = self._policy_refs.get((namespace, name))
        if guess is None:
            instance, guessed = await self._source.instance(namespace, name), None
        else:
            instance, guessed = await asyncio.gather(
                self._source.instance(namespace, name), self._source.policy(namespace, guess)
            )
        if instance is None:
            self._policy_refs.pop((namespace, name), None)
            text = (
                f'ClawInstance "{name}" not found in namespace "{namespace}" — '
                "create it or fix spec.instanceRef"
            )
            return _Context(None, Violation("spec.instanceRef", text))
        ref = instance.spec.policy_ref
        if ref is None:
            self._policy_refs.pop((namespace, name), None)
            return _Context(None, instance=instance)
        if len(self._policy_refs) >= MAX_REMEMBERED:
            self._policy_refs.clear()
        self._policy_refs[(namespace, name)] = ref
        policy = guessed if ref == guess else await self._source.policy(namespace, ref)
        if policy is None:
            text = f'ClawInstance "{instance.name}" references missing ClawPolicy "{ref}"'
            return _Context(None, Violation("spec.policyRef", text))
        return _Context(policy, instance=instance)

    async def _depth(self, run: AgentRun, namespace: str) -> int | None:
        if run.spec.parent is None:
            return None
        return await self._source.run_depth(namespace, run.spec.parent.run_name)

    async def _running(
        self, request: AdmissionRequest, run: AgentRun, policy: ClawPolicy | None
    ) -> int | None:
        """Active runs of the instance, counted on CREATE under a concurrency limit only."""
        if request.operation != "CREATE" or policy is None or not policy.spec.subagent_policy:
            return None
        return await self._source.active_runs(request.namespace, run.spec.instance_ref, run.name)

    async def validate_run(self, request: AdmissionRequest) -> Decision:
        """Validating webhook for AgentRuns."""
        if _passes_untouched(request) or _spec_unchanged(request):
            return ALLOW
        frozen = _frozen(request)
        if frozen is not None:
            return frozen
        try:
            run = AgentRun.from_wire(request.object)
        except pydantic.ValidationError as error:
            return _invalid("AgentRun", error)
        creating = request.operation == "CREATE"
        named = name_token("AgentRun", run.metadata.name, run.metadata.generate_name)
        if creating and named:
            return Decision(violations=tuple(named))
        packs = [ref.skill_pack_ref for ref in run.spec.skills if ref.skill_pack_ref]
        context, parent_depth, found = await asyncio.gather(
            self._context(run, request.namespace),
            self._depth(run, request.namespace),
            self._source.skill_packs(request.namespace, packs) if packs else _nothing(),
        )
        problem = context.problem
        if problem is None and creating:
            problem = await _budget_spent(self._source, context, self._clock())
        if problem is not None:
            judge = context.policy.name if context.policy else None
            return Decision(policy=judge, violations=(problem,))
        decision = evaluate_run(
            run,
            context.policy,
            running_in_instance=await self._running(request, run, context.policy),
            parent_depth=parent_depth,
            instance=context.instance,
            skill_packs=found,
        )
        if creating and decision.allowed and not request.dry_run and run.name:
            self._source.admitted(request.namespace, run.name, run.spec.instance_ref)
        return decision

    async def mutate_run(self, request: AdmissionRequest) -> Decision:
        """Mutating webhook for AgentRuns: label always, policy defaults on CREATE, the
        requesting user stamped into a new approval decision (`_approval`).

        Never denies: a run it cannot parse or place is left for the schema and the
        validating webhook to refuse with a precise message.
        """
        if _passes_untouched(request):
            return ALLOW
        try:
            run = AgentRun.from_wire(request.object)
        except pydantic.ValidationError:
            return ALLOW
        context = _Context(None)
        if request.operation == "CREATE":
            context = await self._context(run, request.namespace)
        policy = context.policy
        patches = [*mutation_patches(run, policy, context.instance), *stamp_patches(request)]
        return Decision(policy=policy.name if policy else None, patches=tuple(patches))

    async def validate_policy(self, request: AdmissionRequest) -> Decision:
        """Validating webhook for ClawPolicies: unknown gates, bad quantities, bad egress."""
        if request.being_deleted:
            return ALLOW
        try:
            policy = ClawPolicy.from_wire(request.object)
        except pydantic.ValidationError as error:
            return _invalid("ClawPolicy", error)
        return Decision(
            violations=tuple(validate_policy(policy)), warnings=tuple(policy_warnings(policy))
        )

    async def validate_instance(self, request: AdmissionRequest) -> Decision:
        """Validating webhook for ClawInstances (CREATE): the name must be a DNS-1123
        label, as it becomes label values, Deployment names and bus subject tokens."""
        if request.being_deleted or request.operation != "CREATE":
            return ALLOW
        meta = request.object.get("metadata") or {}
        name, prefix = meta.get("name"), meta.get("generateName")
        found = name_token(
            "ClawInstance",
            name if isinstance(name, str) else None,
            prefix if isinstance(prefix, str) else None,
        )
        return Decision(violations=tuple(found))

    async def validate_skillpack(self, request: AdmissionRequest) -> Decision:
        """Validating webhook for SkillPacks: size, names, requirements."""
        if request.being_deleted:
            return ALLOW
        try:
            pack = SkillPack.from_wire(request.object)
        except pydantic.ValidationError as error:
            return _invalid("SkillPack", error)
        return Decision(violations=tuple(validate_skillpack(pack)))
