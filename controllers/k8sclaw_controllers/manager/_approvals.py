"""Approvals on the AgentRun: `status.pendingApprovals`, Events, and decisions made with
the `k8sclaw.io/approval-decision` annotation.

- `tool.approval.request.<ns>.<run>` (the run's bridge; hostile payload, run from the
  subject): the call is added to `status.pendingApprovals` and an Event names it.
- `tool.approval.response.<ns>.<run>` (controller, API server or chat relay): the call
  leaves `pendingApprovals` and an Event says who decided, where, when and what.
- The annotation (written by `kubectl annotate` or the TUI, stamped by the admission
  webhook with the requesting user as `decidedBy`): published as an `ApprovalDecision`
  with `via: kubernetes`, then removed. An unstamped value (no webhook) is refused, so a
  decider's identity always comes from the API server, never from the value.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any, Final

from pydantic import ValidationError

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.manager._context import Context, now, timestamp
from k8sclaw_protocol import AgentRun, ApprovalDecision, ApprovalRequest, Event, events, names

log = logging.getLogger("k8sclaw.controller.approvals")
Body = dict[str, Any]
MAX_PENDING: Final = 32
"""Pending approvals of one run at most (a run waits on one call at a time; more is an
agent flooding requests: further ones are not shown, announced or timed, and so can
never be approved; they expire on the agent's side)."""
_ATTEMPTS = 5


def _run_path(namespace: str, run: str) -> str:
    return _kube.claw(namespace, "agentruns", run)


async def _update_pending(
    ctx: Context, namespace: str, run: str, change: Any, *, finished_too: bool = False
) -> Body | None:
    """Read, change and write `status.pendingApprovals` (retried on conflict); returns the
    run's body as read, None if the run is gone or (unless `finished_too`) terminal."""
    path = _run_path(namespace, run)
    for _ in range(_ATTEMPTS):
        try:
            body: Body = await ctx.kube.get(path)
        except _kube.NotFoundError:
            return None
        status = body.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed") and not finished_too:
            return None
        pending = change(list(status.get("pendingApprovals") or []))
        version = body["metadata"].get("resourceVersion")
        patch = {
            "metadata": {"resourceVersion": version},
            "status": {"pendingApprovals": pending or None},
        }
        try:
            await ctx.kube.patch(path + "/status", patch, read=False)
            return body
        except _kube.ConflictError:
            continue
    return None


async def on_request(ctx: Context, namespace: str, run: str, event: Event) -> None:
    """A run asks for approval of one call."""
    try:
        request = ApprovalRequest.model_validate(event.data)
    except ValidationError as exc:
        log.warning("%s/%s: malformed approval request dropped: %s", namespace, run, exc)
        return
    asked = now()
    entry = {
        "id": request.id,
        "tool": request.tool,
        "summary": request.summary,
        "requestedAt": timestamp(asked),
        "expiresAt": timestamp(asked + timedelta(seconds=request.timeout_seconds)),
    }

    added: list[bool] = []

    def add(pending: list[Body]) -> list[Body]:
        added[:] = [not any(item.get("id") == request.id for item in pending)]
        if not added[0] or len(pending) >= MAX_PENDING:
            added[:] = [False]
            return pending
        return [*pending, entry]

    body = await _update_pending(ctx, namespace, run, add)
    if body is not None and added == [True]:
        message = f"{request.tool} waits for approval {request.id}: {request.summary}"
        ctx.event(body, "ApprovalRequested", message[:1024])
        allowed = request.timeout_seconds
        ctx.state.spawn(_expire(ctx, namespace, run, request.id, allowed=allowed, delay=allowed))


def rearm(ctx: Context, run: AgentRun) -> None:
    """A restarted controller's first sight of a Running run: the refusals of its pending
    approvals, at their `expiresAt` (at once if that has passed), as before the restart."""
    for pending in (run.status.pending_approvals if run.status else None) or []:
        if pending.expires_at is None or pending.requested_at is None:
            continue
        allowed = int((pending.expires_at - pending.requested_at).total_seconds())
        left = max(0.0, (pending.expires_at - now()).total_seconds())
        expire = _expire(ctx, run.namespace, run.name, pending.id, allowed=allowed, delay=left)
        ctx.state.spawn(expire)


async def _expire(
    ctx: Context, namespace: str, run: str, approval: str, *, allowed: int, delay: float
) -> None:
    """After `delay` s, publish a refusal `via: timeout`: the waiting call ends with it
    (the agent's own deadline is a little later, for when the controller is away), the
    call leaves `pendingApprovals`, and the timeout lands in the transcript and as an
    Event like any decision. A decision that came first makes this a no-op (the bridge
    keeps the first answer; `on_response` finds nothing pending)."""
    await asyncio.sleep(delay)
    if ctx.bus is None:
        return
    expired = ApprovalDecision(
        id=approval,
        decision="deny",
        via="timeout",
        reason=f"nobody decided within {allowed}s",
        decided_at=timestamp(),
    )
    await publish(ctx.bus, namespace, run, expired)


async def on_response(ctx: Context, namespace: str, run: str, event: Event) -> None:
    """A decision was published: the call is no longer pending; say who decided."""
    try:
        decision = ApprovalDecision.model_validate(event.data)
    except ValidationError as exc:
        log.warning("%s/%s: malformed approval decision dropped: %s", namespace, run, exc)
        return
    removed: list[Body] = []

    def drop(pending: list[Body]) -> list[Body]:
        removed[:] = [item for item in pending if item.get("id") == decision.id]
        return [item for item in pending if item.get("id") != decision.id]

    # The completion comes on another consumer and can be handled first (the agent goes
    # on as soon as the bridge has the answer): a finished run still loses the entry and
    # gets its Event, or the decision would go unrecorded and stay "pending" on it.
    body = await _update_pending(ctx, namespace, run, drop, finished_too=True)
    if body is None or not removed:
        return  # not pending (already decided, timed out with the run, or never asked)
    asked = removed[0]
    verb = "approved" if decision.decision == "approve" else "denied"
    if decision.via == "timeout":
        message = f"{asked.get('tool')} (approval {decision.id}) was refused: {decision.reason}"
        ctx.event(body, "ApprovalExpired", message[:1024], warning=True)
        return
    message = (
        f"{decision.decided_by or 'someone'} {verb} {asked.get('tool')} "
        f"(approval {decision.id}: {asked.get('summary', '')}) via {decision.via or '?'} "
        f"at {decision.decided_at or timestamp()}"
    )
    if decision.reason:
        message += f": {decision.reason}"
    ctx.event(body, "ApprovalDecided", message[:1024], warning=decision.decision == "deny")


def parse_annotation(value: str) -> ApprovalDecision:
    """The decision in the annotation; ValueError (one line, naming the fix) when bad."""
    try:
        data = json.loads(value)
    except ValueError:
        raise ValueError(
            f"{names.ANNOTATION_APPROVAL_DECISION} must be JSON like "
            '{"id": "<approval id>", "decision": "approve"}'
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{names.ANNOTATION_APPROVAL_DECISION} must be a JSON object")
    try:
        return ApprovalDecision.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first["loc"]) or "value"
        raise ValueError(f"{names.ANNOTATION_APPROVAL_DECISION}: {field}: {first['msg']}") from None


async def on_annotation(ctx: Context, run: AgentRun, value: str) -> None:
    """Publish the decision the annotation holds (if pending and stamped), then remove it."""
    try:
        decision = parse_annotation(value)
        if not decision.decided_by:
            raise ValueError(
                f"{names.ANNOTATION_APPROVAL_DECISION} was not stamped with the deciding user "
                "(is the admission webhook installed?); decision ignored"
            )
    except ValueError as exc:
        ctx.event(run.to_wire(), "ApprovalRefused", str(exc), warning=True)
        await _clear_annotation(ctx, run)
        return
    pending = {p.id for p in (run.status.pending_approvals or [])} if run.status else set()
    if decision.id not in pending:
        message = f"approval {decision.id} is not pending on this run; decision ignored"
        ctx.event(run.to_wire(), "ApprovalRefused", message, warning=True)
        await _clear_annotation(ctx, run)
        return
    if ctx.bus is None:
        return  # kept: the next reconcile after the bus is back publishes it
    stamped = decision.model_copy(update={"via": "kubernetes", "decided_at": timestamp()})
    await publish(ctx.bus, run.namespace, run.name, stamped)
    await _clear_annotation(ctx, run)


async def publish(bus: Any, namespace: str, run: str, decision: ApprovalDecision) -> None:
    """Publish one decision on `tool.approval.response.<ns>.<run>` (deduplicated per id:
    the bridge hands only the first answer to the agent anyway)."""
    payload = json.loads(decision.to_json_bytes())
    event = Event.new(events.TOOL_APPROVAL_RESPONSE, payload)
    msg_id = f"approval:{namespace}:{run}:{decision.id}"
    await bus.publish(event, scope=(namespace, run), msg_id=msg_id, retry=True, give_up_after=30)


async def _clear_annotation(ctx: Context, run: AgentRun) -> None:
    patch = {"metadata": {"annotations": {names.ANNOTATION_APPROVAL_DECISION: None}}}
    try:
        await ctx.kube.patch(_run_path(run.namespace, run.name), patch, read=False)
    except _kube.NotFoundError:
        return
