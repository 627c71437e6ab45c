"""`spawn_subagent` waits for its child: the controller's answer arrives as a follow-up.

The tool writes a spawn request with a fresh request id, then watches `/ipc/input` for
the `followup-*.json` the bridge writes from `agent.followup` events. The one carrying
`subagentResult` with the same request id is the answer: the child's response, or why
no child ran or how it failed. Other follow-ups are left alone. The wait is bounded
(`K8SCLAW_SUBAGENT_TIMEOUT_SECONDS`, and the run's own deadline around everything).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path

from pydantic import ValidationError

from k8sclaw_protocol import IpcLayout, SpawnRequest, SubagentResult, ipc
from k8sclaw_protocol._ipc import FOLLOWUP_SUBAGENT_KEY
from k8sclaw_sidecar import _watch
from k8sclaw_sidecar.agent._files import ToolError

ANSWER_CAP = 50_000
"""Longest child answer handed to the model (the controller caps it too)."""
FOLLOWUP_CAP = 256 * 1024


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def request(layout: IpcLayout, spawn: SpawnRequest) -> None:
    """Hand the request to the bridge (published as `agent.spawn.request`)."""
    ipc.write_atomic(layout.spawn / ipc.unique_name("request"), spawn)


def _is_followup(path: Path) -> bool:
    return path.name.startswith("followup-") and path.suffix == ".json"


def read_result(layout: IpcLayout, path: Path, request_id: str) -> SubagentResult | None:
    """The sub-agent result in follow-up `path` when it answers `request_id`."""
    try:
        raw = ipc.read_bytes(layout, path, FOLLOWUP_CAP)
        data = json.loads(raw)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get(FOLLOWUP_SUBAGENT_KEY), dict):
        return None
    with contextlib.suppress(ValidationError):
        result = SubagentResult.model_validate(data[FOLLOWUP_SUBAGENT_KEY])
        if result.request_id == request_id:
            return result
    return None


async def wait_for_result(layout: IpcLayout, request_id: str, within: float) -> SubagentResult:
    """Block until the answer to `request_id` arrives; ToolError after `within` seconds."""
    stop = asyncio.Event()
    deadline = time.monotonic() + within
    found: SubagentResult | None = None
    async for batch in _watch.watch_files(layout.input, stop, _is_followup):
        for path in batch:
            found = found or read_result(layout, path, request_id)
        if found is not None or time.monotonic() > deadline:
            stop.set()
    if found is None:
        raise ToolError(f"no answer from the sub-agent within {within:g}s; carry on without it")
    return found


def render(result: SubagentResult) -> str:
    """What the model sees as the tool's output."""
    who = f"sub-agent run {result.run}" if result.run else "the sub-agent request"
    if result.status == "success":
        answer = ipc.strip_markers(result.response or "")[:ANSWER_CAP]
        return f"{who} finished:\n{answer}"
    raise ToolError(f"{who} failed: {ipc.strip_markers(result.error or 'unknown error')[:4000]}")
