"""Stamp the deciding user into the `k8sclaw.io/approval-decision` annotation.

Whoever may update an AgentRun may decide on its pending approvals by annotating it; the
controller believes only the `decidedBy` this mutating webhook writes, taken from the
admission request's `userInfo.username` (the API server's authentication), replacing
whatever the writer put there. `via` and `decidedAt` are the controller's to set.
"""

from __future__ import annotations

import json
from typing import Any

from k8sclaw_controllers.webhook._review import AdmissionRequest
from k8sclaw_protocol import names

Patch = dict[str, Any]
_POINTER = "/metadata/annotations/" + names.ANNOTATION_APPROVAL_DECISION.replace("~", "~0").replace(
    "/", "~1"
)
_KEPT = ("id", "decision", "reason")


def _annotation(obj: dict[str, Any] | None) -> Any:
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get(names.ANNOTATION_APPROVAL_DECISION)


def stamp_patches(request: AdmissionRequest) -> list[Patch]:
    """The patch that rewrites a new or changed decision with the requesting user; none
    when the annotation is absent, unchanged, or not a JSON object (the controller
    refuses that with a message naming the annotation)."""
    value = _annotation(request.object)
    if not isinstance(value, str) or value == _annotation(request.old_object):
        return []
    try:
        data = json.loads(value)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    stamped = {key: data[key] for key in _KEPT if key in data}
    stamped["decidedBy"] = request.user
    return [{"op": "replace", "path": _POINTER, "value": json.dumps(stamped, sort_keys=True)}]
