"""Kubernetes `Status` errors: the one exception the emulator raises and serves.

Every failure leaves the server as a `Status` object with the `reason` and `code`
kube-apiserver would use, so clients (the official client, kopf, kubectl) parse it the
same way they parse a real cluster's errors.
"""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    """A failed API call, rendered as a metav1 `Status` by the HTTP layer."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The `Status` body kube-apiserver returns for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(group: str, plural: str, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": plural}
    if group:
        details["group"] = group
    return details


def _resource(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> ApiError:
    """404: `configmaps "x" not found`."""
    msg = f'{_resource(group, plural)} "{name}" not found'
    return ApiError(404, "NotFound", msg, _details(group, plural, name))


def already_exists(group: str, plural: str, name: str) -> ApiError:
    """409: `configmaps "x" already exists`."""
    msg = f'{_resource(group, plural)} "{name}" already exists'
    return ApiError(409, "AlreadyExists", msg, _details(group, plural, name))


def conflict(group: str, plural: str, name: str, why: str = "") -> ApiError:
    """409: the optimistic-concurrency failure kube-apiserver reports."""
    why = why or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    msg = f'Operation cannot be fulfilled on {_resource(group, plural)} "{name}": {why}'
    return ApiError(409, "Conflict", msg, _details(group, plural, name))


def invalid(group: str, kind: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422: `Kind "x" is invalid: [field: message, ...]` with one cause per field."""
    text = ", ".join(f"{field}: {message}" for field, message in causes)
    shown = f"[{text}]" if len(causes) > 1 else text
    full_kind = f"{kind}.{group}" if group else kind
    details: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes],
    }
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", f'{full_kind} "{name}" is invalid: {shown}', details)


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def forbidden(group: str, plural: str, name: str, why: str) -> ApiError:
    """403: `pods "x" is forbidden: <why>`."""
    msg = f'{_resource(group, plural)} "{name}" is forbidden: {why}'
    return ApiError(403, "Forbidden", msg, _details(group, plural, name))


def gone(message: str) -> ApiError:
    """410: the requested resourceVersion was compacted away."""
    return ApiError(410, "Expired", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    """405 MethodNotAllowed."""
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(message: str) -> ApiError:
    """415 UnsupportedMediaType (e.g. strategic merge patch on a custom resource)."""
    return ApiError(415, "UnsupportedMediaType", message)


def internal(message: str) -> ApiError:
    """500 InternalError (e.g. an admission webhook that failed with failurePolicy Fail)."""
    return ApiError(500, "InternalError", message)


def strict_patch(exc: ApiError, patched: Any) -> ApiError:
    """A patch (JSON, merge or strategic) rejected by `fieldValidation=Strict`, as
    kube-apiserver's patcher reports it: 422 Invalid, not the 400 of a POST or PUT, with
    one cause on field `patch` quoting the patched object. Other errors pass unchanged."""
    marker = "strict decoding error: "
    if exc.code != 400 or marker not in exc.message:
        return exc
    why = exc.message[exc.message.index(marker) :]
    message = f"Invalid value: {json.dumps(json.dumps(patched, separators=(',', ':')))}: {why}"
    details = {"causes": [{"reason": "FieldValueInvalid", "message": message, "field": "patch"}]}
    return ApiError(422, "Invalid", f' "" is invalid: patch: {message}', details)
