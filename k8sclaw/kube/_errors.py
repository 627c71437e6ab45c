"""One exception tree for everything that can go wrong talking to the Kubernetes API.

    KubeError                     exit 1  anything else the API server refused
    ├── NoKubeconfigError         exit 3  no kubeconfig file / context to connect with
    ├── ClusterUnreachableError   exit 4  connection refused, DNS, TLS, timeout
    ├── CRDsMissingError          exit 5  k8sclaw.io kinds not registered (`k8sclaw install`)
    ├── ForbiddenError            exit 6  RBAC said no (401/403)
    ├── NotFoundError             exit 7  the named object does not exist
    ├── ConflictError             exit 8  resourceVersion conflict / already exists
    └── InvalidError              exit 9  rejected by validation or admission (400/422)

`from_response` and `unreachable` turn error responses and urllib3 errors into these,
once, keeping the server's Status reason and message; the CLI prints `str(err)` and `err.hint`.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar


class KubeError(Exception):
    """An API call failed; `str(err)` is one line, `hint` says how to fix it."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.hint = hint
        self.reason = reason


class NoKubeconfigError(KubeError):
    """No kubeconfig (or the named context) to reach a cluster with."""

    exit_code = 3


class ClusterUnreachableError(KubeError):
    """The API server did not answer."""

    exit_code = 4


class CRDsMissingError(KubeError):
    """The k8sclaw.io resource types are not installed in the cluster."""

    exit_code = 5


class ForbiddenError(KubeError):
    """Authentication or RBAC refused the request."""

    exit_code = 6


class NotFoundError(KubeError):
    """The object does not exist."""

    exit_code = 7


class ConflictError(KubeError):
    """The object exists already or changed underneath us."""

    exit_code = 8


class InvalidError(KubeError):
    """The object was rejected by validation or admission."""

    exit_code = 9


INSTALL_HINT = "run `k8sclaw install` to install the K8sClaw CRDs and control plane"


def _status(body: object) -> dict[str, Any]:
    """The Kubernetes `Status` object in an error body, or {} when it is not one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.startswith("{"):
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) and parsed.get("kind") == "Status" else {}


def from_response(
    code: int, http_reason: str | None, body: object, *, what: str, custom: bool
) -> KubeError:
    """Translate an error response (status code + `Status` body) for the call on `what`."""
    status = _status(body)
    message = " ".join(str(status.get("message") or http_reason or "").split())
    reason = str(status.get("reason") or "")
    if code == 404 and custom and not status.get("details", {}).get("name"):
        return CRDsMissingError(
            f"the cluster does not know {what} (K8sClaw CRDs missing)", hint=INSTALL_HINT
        )
    if code == 0:
        return ClusterUnreachableError(f"no answer from the Kubernetes API: {message}")
    cls, hint = _BY_CODE.get(code, (KubeError, ""))
    if "failed calling webhook" in message:
        hint = (
            "the K8sClaw admission webhook is not answering and policy is enforced; "
            "run `k8sclaw install --wait` (waits until it is Ready), or check "
            "`kubectl -n k8sclaw-system get pods`, then re-run"
        )
    if cls is KubeError:
        message = f"Kubernetes API error {code} on {what}: {message}"
    elif cls is NotFoundError:
        message = message or f"{what} not found"
    elif cls is ForbiddenError:
        message = f"forbidden: {message}"
    return cls(message, hint=hint, reason=reason)


_BY_CODE: dict[int, tuple[type[KubeError], str]] = {
    401: (ForbiddenError, "refresh your credentials, or switch context with --context"),
    403: (ForbiddenError, "ask a cluster admin for access, or switch context with --context"),
    404: (NotFoundError, ""),
    409: (ConflictError, "re-read the object and try again"),
    400: (InvalidError, "fix the object and try again"),
    422: (InvalidError, "fix the object and try again"),
}


def unreachable(server: str, exc: BaseException) -> ClusterUnreachableError:
    """Connection-level failure (refused, DNS, TLS, timeout) talking to `server`."""
    cause: BaseException = exc
    while isinstance(getattr(cause, "reason", None), BaseException):
        cause = getattr(cause, "reason")  # noqa: B009 - urllib3 nests the root cause here
    detail = " ".join(str(cause).split())[:160]
    return ClusterUnreachableError(
        f"cannot reach the Kubernetes API at {server} ({detail})",
        hint="check that the cluster is running and `kubectl cluster-info` works, "
        "or pick another one with --context/--kubeconfig",
    )
