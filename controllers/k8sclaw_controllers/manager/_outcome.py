"""How a run ended, from untrusted agent output: the log marker, bus events, exit codes.

Everything here is parsed from text the agent (a model-driven program) controls, so it is
validated, clamped and stripped of protocol markers before it reaches `status`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from k8sclaw_protocol import TokenUsage, ipc, names

MAX_RESULT_CHARS = 16_384
MAX_ERROR_CHARS = 4_096
MAX_COUNT = 10**12
BUDGET_EXCEEDED = "BudgetExceeded"
_MARKERS = (names.RESULT_MARKER_START, names.RESULT_MARKER_END)


@dataclass(frozen=True)
class Outcome:
    """The final state of one run as learned from the agent, the bus or the kubelet."""

    succeeded: bool
    result: str | None = None
    error: str | None = None
    exit_code: int | None = None
    token_usage: TokenUsage | None = None
    reason: str = ""
    bus_problem: str | None = None
    """Set when the result came from the pod because the event bus was unreachable: the
    run's status then carries an `EventBus` condition naming the outage (issue #13 item 12)."""


def clean_text(text: object, limit: int) -> str:
    """Text safe to store: markers stripped, control characters dropped, length capped."""
    value = text if isinstance(text, str) else json.dumps(text)
    for marker in _MARKERS:
        value = value.replace(marker, "")
    value = "".join(ch for ch in value if ch in "\n\t" or ch.isprintable())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    return int(min(max(value, 0), MAX_COUNT))


def token_usage(metrics: object) -> TokenUsage | None:
    """TokenUsage from an agent's metrics object; negatives and junk become 0."""
    if not isinstance(metrics, dict):
        return None
    inputs = _count(metrics.get("inputTokens"))
    outputs = _count(metrics.get("outputTokens"))
    total = _count(metrics.get("totalTokens")) or inputs + outputs
    return TokenUsage(
        input_tokens=inputs,
        output_tokens=outputs,
        total_tokens=min(max(total, inputs + outputs), MAX_COUNT),
        tool_calls=_count(metrics.get("toolCalls")),
        duration_ms=_count(metrics.get("durationMs")),
    )


def from_payload(payload: dict[str, Any], exit_code: int | None = None) -> Outcome:
    """Outcome from the agent's result object `{status, response, error, metrics}`."""
    status = payload.get("status")
    ok = status == "success" if exit_code is None else (exit_code == 0 and status != "error")
    response = payload.get("response")
    error = payload.get("error")
    return Outcome(
        succeeded=ok,
        result=clean_text(response, MAX_RESULT_CHARS) if response not in (None, "") else None,
        error=None if ok else clean_text(error or "the agent reported an error", MAX_ERROR_CHARS),
        exit_code=exit_code,
        token_usage=token_usage(payload.get("metrics")),
        reason="Completed" if ok else _failure_reason(payload),
    )


def _failure_reason(payload: dict[str, Any]) -> str:
    """BudgetExceeded when the agent says it stopped at its per-run cap (a claim it can
    only make against itself), else AgentError."""
    return BUDGET_EXCEEDED if payload.get("stopReason") == "budget" else "AgentError"


def from_log(log: str, exit_code: int | None) -> Outcome:
    """Outcome from the agent container's log and exit code (the fallback channel)."""
    payload = ipc.result_payload(log)
    if payload is not None:
        return from_payload(payload, exit_code)
    if exit_code == 0:
        return Outcome(succeeded=True, exit_code=0, reason="Completed")
    tail = "\n".join(line for line in log.strip().splitlines()[-10:])
    message = tail or f"the agent exited with code {exit_code} and printed nothing"
    return Outcome(
        succeeded=False,
        error=clean_text(message, MAX_ERROR_CHARS),
        exit_code=exit_code,
        reason="AgentError",
    )
