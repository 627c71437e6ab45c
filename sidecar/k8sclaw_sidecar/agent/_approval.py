"""Approval of calls to `ask`-gated tools: ask through `/ipc/approvals`, wait, decide.

The agent writes `approvals/request-<id>.json`; the bridge publishes it as
`tool.approval.request.<ns>.<run>` and writes back `approvals/decision-<id>.json` when a
person (TUI/API/chat, authenticated by the component that carries the decision) answers
that very id. No answer within the timeout is a refusal. The bridge enforces the same
gate on what it publishes, so a forged call without an approval goes nowhere either.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8sclaw_protocol import ApprovalDecision, ApprovalRequest, IpcLayout, ipc
from k8sclaw_sidecar import _watch

DECISION_CAP = 8 * 1024
"""Largest decision file read (the bridge writes a few hundred bytes)."""
LOCAL_GRACE = 5.0
"""Seconds past the timeout the agent waits on its own: at the timeout the controller
publishes the refusal (recorded in the transcript and as an Event); this deadline only
ends the wait when no refusal comes (controller or bus away)."""


@dataclass(frozen=True)
class Verdict:
    """What became of one approval request."""

    approved: bool
    reason: str


def new_approval_id() -> str:
    return uuid.uuid4().hex[:16]


def request(layout: IpcLayout, tool: str, args: dict[str, Any], timeout: int) -> str:
    """Write the request for the bridge; returns its id."""
    approval = ApprovalRequest(
        id=new_approval_id(),
        tool=tool,
        summary=ipc.approval_summary(args),
        timeout_seconds=timeout,
    )
    with contextlib.suppress(FileExistsError):
        layout.approvals.mkdir(mode=0o750)
    ipc.write_atomic(layout.approval_request(approval.id), approval, root=layout.root)
    return approval.id


def _read(layout: IpcLayout, path: Path) -> ApprovalDecision | None:
    with contextlib.suppress(FileNotFoundError, ipc.QuarantinedError):
        decision, _ = ipc.read_validated(layout, path, ApprovalDecision, DECISION_CAP)
        return decision
    return None


async def wait(layout: IpcLayout, approval_id: str, within: float) -> Verdict:
    """Block until the decision on `approval_id` arrives, or `within` seconds (plus
    `LOCAL_GRACE`) pass."""
    target = layout.approval_decision(approval_id)
    stop = asyncio.Event()
    deadline = time.monotonic() + within + LOCAL_GRACE
    decision: ApprovalDecision | None = None
    async for batch in _watch.watch_files(layout.approvals, stop, lambda p: p == target):
        if batch:
            decision = _read(layout, target)
        if decision is not None or time.monotonic() > deadline:
            stop.set()
    if decision is None or decision.id != approval_id or decision.via == "timeout":
        return Verdict(False, f"nobody approved the call within {within:g}s")
    who = decision.decided_by or "someone"
    via = f" via {decision.via}" if decision.via else ""
    if decision.decision == "approve":
        return Verdict(True, f"approved by {who}{via}")
    why = f": {decision.reason}" if decision.reason else ""
    return Verdict(False, f"denied by {who}{via}{why}")


async def ask(layout: IpcLayout, tool: str, args: dict[str, Any], within: int) -> Verdict:
    """Ask for approval of one call and wait for the answer."""
    return await wait(layout, request(layout, tool, args, within), within)
