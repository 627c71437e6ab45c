"""AdmissionReview encoding: uid echo, 403 naming the rule, base64 JSON patch, bad bodies."""

from __future__ import annotations

import base64
import json

import pytest

from k8sclaw_controllers.policy import Decision, Violation
from k8sclaw_controllers.webhook import _review


def test_parse_rejects_bodies_that_are_not_admission_reviews() -> None:
    with pytest.raises(_review.ReviewError, match="not an AdmissionReview"):
        _review.parse({"kind": "Pod"})
    with pytest.raises(_review.ReviewError, match="admissionReviewVersions"):
        _review.parse({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1beta1"})
    with pytest.raises(_review.ReviewError, match="uid"):
        _review.parse({"kind": "AdmissionReview", "apiVersion": _review.API_VERSION, "request": {}})


def test_update_with_deletion_timestamp_counts_as_being_deleted() -> None:
    body = {
        "kind": "AdmissionReview",
        "apiVersion": _review.API_VERSION,
        "request": {
            "uid": "u1",
            "operation": "UPDATE",
            "object": {
                "metadata": {
                    "name": "r",
                    "namespace": "n",
                    "deletionTimestamp": "2025-01-01T00:00:00Z",
                }
            },
        },
    }
    request = _review.parse(body)
    assert request.being_deleted and request.namespace == "n"


def test_denial_is_403_with_the_policy_and_rule() -> None:
    decision = Decision(policy="p", violations=(Violation("sandboxPolicy.required", "set it"),))
    response = _review.respond("u1", decision)["response"]
    assert response == {
        "uid": "u1",
        "allowed": False,
        "status": {
            "code": 403,
            "reason": "Forbidden",
            "message": 'denied by ClawPolicy "p" rule sandboxPolicy.required: set it',
        },
    }


def test_mutation_carries_a_base64_json_patch_and_warnings() -> None:
    patch = ({"op": "add", "path": "/metadata/labels", "value": {"a": "b"}},)
    decision = Decision(patches=patch, warnings=("careful",))
    response = _review.respond("u2", decision, mutate=True)["response"]
    assert response["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(response["patch"])) == list(patch)
    assert response["warnings"] == ["careful"]
    assert "patch" not in _review.respond("u2", decision)["response"]
