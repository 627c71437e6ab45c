"""The UPDATE rule for AgentRuns: a run's spec is frozen once the controller acted on it.

The controller judges a run and builds its Job from the spec it saw; a spec edited
afterwards would describe a run that never happened (a task, model or toolPolicy the
pod does not have) and would dodge the policy the webhook checked at creation.
"Started" means the controller has written a phase (Pending while queued, Running,
Succeeded, Failed) or a Job name into the status. Metadata (labels, annotations,
finalizers) and the status subresource stay writable; deletion is never judged here.

Works on the wire objects of the AdmissionReview, so a field the model does not know
still counts as a change.
"""

from __future__ import annotations

from typing import Any

from k8sclaw_controllers.policy._decision import Violation

RULE_IMMUTABLE = "spec.immutable"

Body = dict[str, Any]


def started(body: Body) -> str | None:
    """How `body` (a stored AgentRun) shows it has started, or None when it has not.

    Returns the phase (e.g. "Running") or, for a status with a Job but no phase,
    "started"; the phrase goes into the denial message.
    """
    status = body.get("status")
    if not isinstance(status, dict):
        return None
    phase = status.get("phase")
    if isinstance(phase, str) and phase:
        return phase
    return "started" if status.get("jobName") else None


def changed_fields(old: Body, new: Body) -> list[str]:
    """The top-level spec fields that differ between `old` and `new`, as `spec.<field>`."""
    before, after = _spec(old), _spec(new)
    keys = sorted(set(before) | set(after))
    return [f"spec.{key}" for key in keys if before.get(key) != after.get(key)]


def _spec(body: Body) -> Body:
    spec = body.get("spec")
    return spec if isinstance(spec, dict) else {}


def spec_immutable(old: Body, new: Body) -> list[Violation]:
    """A violation when `new` changes the spec of a run `old` shows has started."""
    state = started(old)
    fields = changed_fields(old, new)
    if state is None or not fields:
        return []
    name = (new.get("metadata") or {}).get("name") or (old.get("metadata") or {}).get("name")
    text = (
        f'AgentRun "{name}" is {state} and its spec is immutable once started '
        f"(changed: {', '.join(fields)}); create a new AgentRun instead — "
        "labels, annotations and finalizers may still change"
    )
    return [Violation(RULE_IMMUTABLE, text)]
