"""Completion from the kubelet's side: agent Pods and their Jobs (the fallback to the bus).

The run ends when the `agent` container terminates (not when the pod does: a sidecar that
hangs must not keep a run Running; reference §15). The result comes from the agent's
log marker; the Job's own failure (deadline, eviction) fails runs that never reported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Any

from k8sclaw_controllers.manager import _completion, _kube, _outcome
from k8sclaw_controllers.manager._context import Context
from k8sclaw_protocol import names

log = logging.getLogger("k8sclaw.controller.pods")
Body = dict[str, Any]


def agent_termination(pod: Body) -> Body | None:
    """The `terminated` state of the pod's agent container, if it has ended."""
    return _termination(pod, names.CONTAINER_AGENT)


def _termination(pod: Body, container: str) -> Body | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            terminated: Body | None = (status.get("state") or {}).get("terminated")
            return terminated
    return None


BRIDGE_EXIT_BUS_UNAVAILABLE = 4
"""The ipc-bridge's exit code when the bus did not take the result in time."""


def bus_problem(ctx: Context, pod: Body) -> str | None:
    """Why this run's result could not come over the bus, if it could not: the bridge gave
    up on an unreachable bus, or the controller itself is cut off from it."""
    bridge = _termination(pod, names.CONTAINER_IPC_BRIDGE)
    if bridge is not None and bridge.get("exitCode") == BRIDGE_EXIT_BUS_UNAVAILABLE:
        return "the run's ipc-bridge could not publish to the event bus; result read from the pod"
    problem = ctx.bus_state.not_ready()
    if problem:
        return f"{problem}; result read from the pod"
    return None


async def on_pod(ctx: Context, pod: Body) -> None:
    """A watched agent Pod changed: record its name, finish the run when the agent ended."""
    meta = pod.get("metadata") or {}
    namespace, pod_name = meta.get("namespace", ""), meta.get("name", "")
    run_name = (meta.get("labels") or {}).get(names.LABEL_AGENT_RUN)
    if not run_name:
        return
    key = (namespace, run_name)
    record = ctx.state.runs.get(key)
    if ctx.state.is_terminal(key):
        if (
            (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            and record
            and record.cleanup == "delete"
        ):
            await _completion.delete_finished_job(ctx, namespace, run_name)
        return
    terminated = agent_termination(pod)
    phase = (pod.get("status") or {}).get("phase")
    if terminated is None and phase not in ("Succeeded", "Failed"):
        # Recorded once the pod runs (its logs exist from then on), not at creation: a
        # burst of new runs costs no extra write per pod that is still Pending.
        if (
            phase == "Running"
            and record is not None
            and record.pod_name != pod_name
            and record.phase == "Running"
        ):
            record.pod_name = pod_name
            await _set_pod_name(ctx, namespace, run_name, pod_name)
        return
    outcome = await outcome_from_pod(ctx, pod, terminated)
    await _completion.finish(ctx, namespace, run_name, outcome, pod_name)


async def outcome_from_pod(ctx: Context, pod: Body, terminated: Body | None) -> _outcome.Outcome:
    """Outcome from the agent container's exit code and its log marker."""
    meta = pod["metadata"]
    exit_code = terminated.get("exitCode") if terminated else None
    if not isinstance(exit_code, int):
        message = (pod.get("status") or {}).get("message") or "the pod stopped before the agent"
        return _outcome.Outcome(succeeded=False, error=message, reason="PodFailed")
    path = _kube.core(meta["namespace"], "pods", meta["name"], "log")
    try:
        text = await ctx.kube.text(
            path, container=names.CONTAINER_AGENT, tailLines=_completion.LOG_TAIL_LINES
        )
    except (_kube.KubeError, OSError, TimeoutError) as exc:
        log.info("no log for %s/%s: %s", meta["namespace"], meta["name"], exc)
        text = ""
    if not text and terminated and terminated.get("message"):
        text = str(terminated["message"])  # terminationMessagePath fallback
    outcome = _outcome.from_log(text, exit_code)
    return dataclasses.replace(outcome, bus_problem=bus_problem(ctx, pod))


async def _set_pod_name(ctx: Context, namespace: str, run_name: str, pod_name: str) -> None:
    with contextlib.suppress(_kube.NotFoundError):
        await ctx.kube.patch(
            _kube.claw(namespace, "agentruns", run_name, "status"),
            {"status": {"podName": pod_name}},
        )


async def on_job(ctx: Context, job: Body) -> None:
    """A watched agent Job changed: fail runs whose Job failed; clean up finished Jobs."""
    meta = job.get("metadata") or {}
    namespace = meta.get("namespace", "")
    run_name = (meta.get("labels") or {}).get(names.LABEL_AGENT_RUN)
    if not run_name or not _completion.job_finished(job):
        return
    key = (namespace, run_name)
    record = ctx.state.runs.get(key)
    if ctx.state.is_terminal(key):
        if record is not None and record.cleanup == "delete":
            await _completion.delete_finished_job(ctx, namespace, run_name)
        return
    failed = next(
        (
            c
            for c in (job.get("status") or {}).get("conditions") or []
            if c.get("type") == "Failed" and c.get("status") == "True"
        ),
        None,
    )
    pods = await ctx.kube.items(
        _kube.core(namespace, "pods"), f"{names.LABEL_AGENT_RUN}={run_name}"
    )
    ended = [pod for pod in pods if agent_termination(pod) is not None]
    if failed is not None and not (ended and failed.get("reason") != "DeadlineExceeded"):
        await _completion.fail(
            ctx,
            namespace,
            run_name,
            failed.get("reason") or "JobFailed",
            failed.get("message") or f"Job {meta.get('name')} failed",
        )
        return
    # The agent finished: its log marker is the result, even when the Job failed afterwards
    # because a sidecar did (the bridge giving up on an unreachable bus, issue #13 item 12).
    if ended or pods:
        pod = (ended or pods)[0]
        outcome = await outcome_from_pod(ctx, pod, agent_termination(pod))
        await _completion.finish(ctx, namespace, run_name, outcome, pod["metadata"]["name"])
