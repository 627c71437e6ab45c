"""`serviceaccounts/token`: the TokenRequest API a kubelet calls for projected tokens.

kube-apiserver answers with a signed JWT bound to the pod; the emulator's token has the
same claims (issuer, `system:serviceaccount:<ns>:<name>` subject, audiences, expiry,
bound pod) and an unverifiable signature: nothing in the emulator checks tokens. The
ServiceAccount must exist (404 otherwise), as on a real server.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from tests.harness.kube import _errors
from tests.harness.kube._cluster import Cluster
from tests.harness.kube._http import Reply, Target, json_response
from tests.harness.kube._server import Request

ISSUER = "https://kubernetes.default.svc.cluster.local"
_MAX_SECONDS = 2**32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "RS256", "kid": "k8sclaw-emulator"}).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{_b64(secrets.token_bytes(32))}"


class TokenRequests:
    """The `token` subresource handler."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def handlers(self) -> dict[str, Any]:
        return {"token": self.token}

    async def token(self, request: Request, target: Target) -> Reply:
        if request.method != "POST":
            raise _errors.method_not_allowed()
        ns, name = target.namespace or "", target.name or ""
        account = self.cluster.peek(target.rtype, ns, name)  # 404 when missing
        body = await request.json()
        spec = dict((body or {}).get("spec") or {}) if isinstance(body, dict) else {}
        seconds = spec.get("expirationSeconds") or 3600
        if not isinstance(seconds, int) or not 600 <= seconds <= _MAX_SECONDS:
            why = "may not specify a duration less than 10 minutes"
            raise _errors.invalid("authentication.k8s.io", "TokenRequest", name, [
                ("spec.expirationSeconds", f"Invalid value: {seconds}: {why}")
            ])  # fmt: skip
        audiences = spec.get("audiences") or [ISSUER]
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": f"system:serviceaccount:{ns}:{name}",
            "aud": audiences,
            "iat": now,
            "nbf": now,
            "exp": now + seconds,
            "kubernetes.io": {
                "namespace": ns,
                "serviceaccount": {"name": name, "uid": account["metadata"]["uid"]},
            },
        }
        bound = spec.get("boundObjectRef") or {}
        if bound.get("kind") == "Pod":
            claims["kubernetes.io"]["pod"] = {"name": bound.get("name"), "uid": bound.get("uid")}
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + seconds))
        answer = {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
            "spec": {**spec, "audiences": audiences, "expirationSeconds": seconds},
            "status": {"token": _jwt(claims), "expirationTimestamp": expires},
        }
        return json_response(answer, 201)
