"""Authentication and authorization APIs of kube-apiserver, for the components that ask them.

- `serviceaccounts/<name>/token` (TokenRequest) mints a token for a ServiceAccount; it stops
  authenticating when it expires or when the ServiceAccount is deleted (bound tokens).
- `tokenreviews` (authentication.k8s.io/v1) resolves a token to its user, as kube-apiserver
  does for ServiceAccount tokens (`system:serviceaccount:<ns>:<name>` with the groups
  `system:serviceaccounts`, `system:serviceaccounts:<ns>`, `system:authenticated`). The
  emulator kubeconfig's own token is the cluster admin (`system:masters`).
- `subjectaccessreviews` (authorization.k8s.io/v1) answers with `_rbac`;
  `selfsubjectaccessreviews` the same for the user of the request's bearer token.

The emulator itself still serves every caller as admin: these APIs exist so a server that
delegates authentication and authorization to Kubernetes (the K8sClaw API server) can be
tested against the same answers a real cluster gives.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.harness.kube import _errors, _rbac, _webhooks
from tests.harness.kube._cluster import Cluster
from tests.harness.kube._http import Reply, Target, json_response
from tests.harness.kube._server import Request

ADMIN_TOKEN = "emulator-token"  # the token `_kubeconfig.write_kubeconfig` puts in its user
ADMIN_USER = "kubernetes-admin"
_DEFAULT_EXPIRY, _MIN_EXPIRY = 3600, 600


@dataclass(frozen=True)
class _Minted:
    namespace: str
    name: str
    uid: str
    expires: float
    audiences: tuple[str, ...]


class AuthApis:
    """Handlers for `serviceaccounts/token`, `tokenreviews` and `subjectaccessreviews`."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._tokens: dict[str, _Minted] = {}

    def handlers(self) -> dict[str, Any]:
        return {
            "token": self.token_request,
            "tokenreviews.authentication.k8s.io": self.token_review,
            "subjectaccessreviews.authorization.k8s.io": self.access_review,
            "selfsubjectaccessreviews.authorization.k8s.io": self.self_access_review,
        }

    async def token_request(self, request: Request, target: Target) -> Reply:
        if request.method != "POST":
            raise _errors.method_not_allowed()
        body = await request.json()
        sa = self.cluster.read(target.rtype, target.namespace or "", target.name or "")
        spec = dict(body.get("spec") or {})
        seconds = int(spec.get("expirationSeconds") or _DEFAULT_EXPIRY)
        if seconds < _MIN_EXPIRY:
            why = "may not specify a duration less than 10 minutes"
            raise _errors.invalid(
                "authentication.k8s.io",
                "TokenRequest",
                sa["metadata"]["name"],
                [("spec.expirationSeconds", why)],
            )
        audiences = tuple(spec.get("audiences") or ())
        expires = time.time() + seconds
        meta = sa["metadata"]
        token = _jwt(_claims(meta, spec, audiences, int(expires)))
        self._tokens[token] = _Minted(
            meta["namespace"], meta["name"], meta["uid"], expires, audiences
        )
        spec["expirationSeconds"] = seconds
        spec["audiences"] = list(audiences)
        stamp = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        reply = {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": stamp},
        }
        return json_response(reply, 201)

    async def token_review(self, request: Request, target: Target) -> Reply:
        if request.method != "POST":
            raise _errors.method_not_allowed()
        body = await request.json()
        token = str((body.get("spec") or {}).get("token") or "")
        user = self.resolve(token)
        status: dict[str, Any] = {"user": {}}
        if user is None:
            status["error"] = "[invalid bearer token, token lookup failed]"
        else:
            status.update(authenticated=True, user=user)
        return json_response(_review(body, "TokenReview", "authentication.k8s.io/v1", status), 201)

    def identify(self, token: str) -> dict[str, Any] | None:
        """The userInfo of a bearer token, None when unknown or expired."""
        return self.resolve(token)

    def resolve(self, token: str) -> dict[str, Any] | None:
        """The user a token names (TokenReview's answer), None when it names nobody."""
        if secrets.compare_digest(token.encode(), ADMIN_TOKEN.encode()):
            return {
                "username": ADMIN_USER,
                "groups": [_rbac.SUPERUSER_GROUP, "system:authenticated"],
            }
        minted = self._tokens.get(token)
        if minted is None or minted.expires < time.time():
            return None
        sa_type = self.cluster.registry.find("", "v1", "serviceaccounts")
        assert sa_type is not None
        sa = self.cluster.store.peek(sa_type.key, minted.namespace, minted.name)
        if sa is None or sa["metadata"]["uid"] != minted.uid:
            return None  # bound token: its ServiceAccount is gone
        return {
            "username": f"system:serviceaccount:{minted.namespace}:{minted.name}",
            "uid": minted.uid,
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{minted.namespace}",
                "system:authenticated",
            ],
        }

    async def access_review(self, request: Request, target: Target) -> Reply:
        if request.method != "POST":
            raise _errors.method_not_allowed()
        body = await request.json()
        spec = body.get("spec") or {}
        if not spec.get("user") and not spec.get("groups"):
            raise _errors.invalid(
                "authorization.k8s.io",
                "SubjectAccessReview",
                "",
                [("spec.user", "at least one of user or group must be specified")],
            )
        subject = _rbac.Subject(str(spec.get("user") or ""), tuple(spec.get("groups") or ()))
        return self._decide(body, "SubjectAccessReview", subject)

    async def self_access_review(self, request: Request, target: Target) -> Reply:
        """May the caller (its bearer token's user; the admin without one) do this?"""
        if request.method != "POST":
            raise _errors.method_not_allowed()
        body = await request.json()
        user = _webhooks.REQUEST_USER.get() or {
            "username": ADMIN_USER,
            "groups": [_rbac.SUPERUSER_GROUP, "system:authenticated"],
        }
        subject = _rbac.Subject(str(user.get("username") or ""), tuple(user.get("groups") or ()))
        return self._decide(body, "SelfSubjectAccessReview", subject)

    def _decide(self, body: dict[str, Any], kind: str, subject: _rbac.Subject) -> Reply:
        """RBAC's answer for `subject` on the review's attributes, as the review's status."""
        spec = body.get("spec") or {}
        resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if bool(resource) == bool(non_resource):
            why = "exactly one of nonResourceAttributes or resourceAttributes must be specified"
            raise _errors.invalid(
                "authorization.k8s.io", kind, "", [("spec.resourceAttributes", why)]
            )
        allowed, reason = _rbac.allowed(self.cluster, subject, _attributes(resource, non_resource))
        status: dict[str, Any] = {"allowed": allowed}
        if reason:
            status["reason"] = reason
        return json_response(_review(body, kind, "authorization.k8s.io/v1", status), 201)


def _attributes(
    resource: dict[str, Any] | None, non_resource: dict[str, Any] | None
) -> _rbac.Attributes:
    if non_resource:
        return _rbac.Attributes(
            verb=str(non_resource.get("verb") or ""), path=str(non_resource.get("path") or "")
        )
    r = resource or {}
    return _rbac.Attributes(
        verb=str(r.get("verb") or ""),
        namespace=str(r.get("namespace") or ""),
        group=str(r.get("group") or ""),
        resource=str(r.get("resource") or ""),
        subresource=str(r.get("subresource") or ""),
        name=str(r.get("name") or ""),
    )


def _review(
    body: dict[str, Any], kind: str, api_version: str, status: dict[str, Any]
) -> dict[str, Any]:
    """The review echoed back with its status, as the real server answers a create."""
    return {
        "kind": kind,
        "apiVersion": api_version,
        "metadata": {"creationTimestamp": None},
        "spec": body.get("spec") or {},
        "status": status,
    }


ISSUER = "https://kubernetes.default.svc.cluster.local"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: dict[str, Any]) -> str:
    """A token shaped like kube-apiserver's (a JWT with its claims); the signature is random
    bytes, since only this emulator's TokenReview (by lookup) ever judges it."""
    header = _b64(json.dumps({"alg": "RS256", "kid": "k8sclaw-emulator"}).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{_b64(secrets.token_bytes(32))}"


def _claims(
    meta: dict[str, Any], spec: dict[str, Any], audiences: tuple[str, ...], expires: int
) -> dict[str, Any]:
    """The claims kube-apiserver puts in a ServiceAccount token (bound to a pod if asked)."""
    now = int(time.time())
    ns, name = meta["namespace"], meta["name"]
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": f"system:serviceaccount:{ns}:{name}",
        "aud": list(audiences) or [ISSUER],
        "iat": now,
        "nbf": now,
        "exp": expires,
        "kubernetes.io": {
            "namespace": ns,
            "serviceaccount": {"name": name, "uid": meta["uid"]},
        },
    }
    bound = spec.get("boundObjectRef") or {}
    if bound.get("kind") == "Pod":
        claims["kubernetes.io"]["pod"] = {"name": bound.get("name"), "uid": bound.get("uid")}
    return claims
