"""AdmissionReview v1 on the wire: parse a request, build a response from a Decision.

Kept apart from the HTTP server so the encoding (uid echo, base64 JSON patch,
403 status naming the rule, warnings) is tested without sockets.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from k8sclaw_controllers.policy import Decision

API_VERSION = "admission.k8s.io/v1"
Body = dict[str, Any]


class ReviewError(ValueError):
    """The request body is not an AdmissionReview v1 request."""


@dataclass(frozen=True)
class AdmissionRequest:
    """The parts of `request` the handlers use."""

    uid: str
    operation: str
    namespace: str
    object: Body
    old_object: Body | None = None
    kind: str = ""
    dry_run: bool = False
    user: str = ""
    sub_resource: str = ""
    raw: Body = field(default_factory=dict, repr=False)

    @property
    def being_deleted(self) -> bool:
        """DELETE, or an UPDATE of an object that already has a deletionTimestamp."""
        if self.operation == "DELETE":
            return True
        return bool((self.object.get("metadata") or {}).get("deletionTimestamp"))


def parse(body: Any) -> AdmissionRequest:
    """The request of an AdmissionReview body; `ReviewError` when it is not one."""
    if not isinstance(body, dict) or body.get("kind") != "AdmissionReview":
        raise ReviewError("body is not an AdmissionReview")
    if body.get("apiVersion") != API_VERSION:
        raise ReviewError(f"apiVersion must be {API_VERSION}; set admissionReviewVersions: [v1]")
    request = body.get("request")
    if not isinstance(request, dict) or not request.get("uid"):
        raise ReviewError("AdmissionReview has no request.uid")
    obj = request.get("object") or request.get("oldObject") or {}
    if not isinstance(obj, dict):
        raise ReviewError("request.object is not an object")
    return AdmissionRequest(
        uid=str(request["uid"]),
        operation=str(request.get("operation", "")),
        namespace=str(
            request.get("namespace") or (obj.get("metadata") or {}).get("namespace") or ""
        ),
        object=obj,
        old_object=request.get("oldObject"),
        kind=str((request.get("kind") or {}).get("kind", "")),
        dry_run=bool(request.get("dryRun")),
        user=str((request.get("userInfo") or {}).get("username", "")),
        sub_resource=str(request.get("subResource") or ""),
        raw=request,
    )


def respond(uid: str, decision: Decision, *, mutate: bool = False) -> Body:
    """The AdmissionReview response for `decision` (with its patch when `mutate`)."""
    response: Body = {"uid": uid, "allowed": decision.allowed}
    if not decision.allowed:
        response["status"] = {
            "code": 403,
            "reason": "Forbidden",
            "message": decision.message,
        }
    elif mutate and decision.patches:
        patch = json.dumps(list(decision.patches), separators=(",", ":")).encode()
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(patch).decode()
    if decision.warnings:
        response["warnings"] = list(decision.warnings)
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def error_response(uid: str, code: int, message: str) -> Body:
    """A refusal for a request the webhook could not judge (fail closed)."""
    status = {
        "code": code,
        "message": message,
        "reason": "InternalError" if code >= 500 else "BadRequest",
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": False, "status": status},
    }
