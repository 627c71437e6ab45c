"""Creating what a run needs (skill ConfigMaps, NetworkPolicies, bus credentials, Job), and
turning a refusal by the API server into a loud failure (#13 item 11).

The ServiceAccount is created just before, by the reconciler. A request the API server
refuses with 400, 403 or 422 gets the same answer when retried: a run name that cannot
be a label value (422), a ResourceQuota that is exhausted or a namespace being
terminated (403). Retrying forever left such runs Pending with no condition and no
Event; now the run fails with the API's own message (a Failed condition and a warning
Event, via `_completion.fail`) — except a ResourceQuota refusal, which frees up by
itself: that run stays Pending with a `Queued` condition (reason `QuotaExceeded`, the
API's message) and is retried with exponential back-off (`wait_for_quota`). Other
errors (5xx, timeouts, connection loss) still propagate and are retried with back-off.
"""

from __future__ import annotations

from typing import Any

from k8sclaw_controllers.manager import _buscreds, _jobbuilder, _kube, _netpol, _skills
from k8sclaw_controllers.manager._context import Context, condition
from k8sclaw_protocol import AgentRun

Body = dict[str, Any]
FINAL_STATUSES = frozenset({400, 403, 422})
"""API answers that do not change on retry."""
QUOTA = "QuotaExceeded"
QUOTA_RETRY_FIRST, QUOTA_RETRY_MAX = 2.0, 300.0
"""Seconds before the first retry of a quota-refused Job, and the back-off's ceiling."""


class RefusedError(Exception):
    """The API server (or a name clash) refused something the run needs; final."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _reason(error: _kube.KubeError) -> str:
    if error.status == 403 and "exceeded quota" in error.message:
        return QUOTA
    return "JobRejected" if error.status == 422 else "Forbidden"


async def launch(
    ctx: Context, run: AgentRun, tools: _jobbuilder.Tools, budget_env: dict[str, str] | None = None
) -> bool:
    """Create the run's children and its Job; True when the Job was created (False: it
    already existed and is adopted). Raises `RefusedError` for a final refusal."""
    step = "skill ConfigMaps"
    try:
        await _skills.mirror_for_run(ctx, run)
        step = "NetworkPolicies"
        await _netpol.ensure(ctx, run.namespace, run.spec.instance_ref)
        if ctx.bus_seed is not None:
            step = "bus credentials Secret"
            timeout = _jobbuilder.run_timeout_seconds(run, ctx.settings.default_timeout_seconds)
            await _buscreds.ensure_secret(ctx.kube, run, ctx.bus_seed, timeout)
        step = f"Job {run.name}"
        job = _jobbuilder.build_job(run, ctx.job_options, tools, budget_env)
        try:
            await ctx.kube.create(_kube.group("batch/v1", run.namespace, "jobs"), job, read=False)
        except _kube.ConflictError:
            return False
        return True
    except _skills.ConfigMapClashError as error:
        raise RefusedError("SkillConfigMapConflict", str(error)) from error
    except _kube.KubeError as error:
        if isinstance(error, _kube.ConflictError) or error.status not in FINAL_STATUSES:
            raise
        text = f"the API server refused the {step}: {error.status} {error.reason}: {error.message}"
        raise RefusedError(_reason(error), text) from error


async def wait_for_quota(ctx: Context, run: AgentRun, message: str) -> None:
    """Keep a quota-refused run Pending (condition `Queued`, reason `QuotaExceeded`) and
    try it again after an exponential back-off."""
    key = (run.namespace, run.name)
    attempt = ctx.state.quota_attempts.get(key, 0)
    ctx.state.quota_attempts[key] = attempt + 1
    requeue = ctx.requeue
    if requeue is not None:
        delay = min(QUOTA_RETRY_MAX, QUOTA_RETRY_FIRST * 2**attempt)
        ctx.state.set_deadline(key, delay, lambda: requeue(*key))
    if not await mark_queued(ctx, run, QUOTA, message):
        return
    ctx.event(run.to_wire(), QUOTA, message, warning=True)


async def mark_queued(ctx: Context, run: AgentRun, reason: str, message: str) -> bool:
    """Keep the run Pending with a `Queued` condition (reason, message); False when the run
    already says exactly that (nothing written)."""
    conditions = run.status.conditions if run.status else []
    if any(c.type == "Queued" and c.reason == reason and c.message == message for c in conditions):
        return False
    generation = run.metadata.generation
    status = {
        "phase": "Pending",
        "observedGeneration": generation,
        "conditions": [
            condition("Ready", False, "Queued", message, generation),
            condition("Queued", True, reason, message, generation),
        ],
    }
    path = _kube.claw(run.namespace, "agentruns", run.name, "status")
    await ctx.kube.patch(path, {"status": status})
    return True
