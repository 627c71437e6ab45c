"""API aggregation: requests for an `APIService`'s group/version go to its Service.

As kube-apiserver's aggregator does it: the caller is authenticated first (client
certificate verified by the cluster CA → CN is the user, O the groups; else a bearer
token, resolved as TokenReview resolves it; neither → 401) and authorized by RBAC on the
aggregated resource (403 as a `Status`); then the request is proxied over TLS to
`spec.service` with the front-proxy client certificate and the identity in
`X-Remote-User`, `X-Remote-Group` (one header per group) and `X-Remote-Extra-*`; the
caller's `Authorization` and any `X-Remote-*` headers it sent are dropped. The server is
verified against `spec.caBundle` for `<service>.<namespace>.svc`, or not at all with
`insecureSkipTLSVerify`. A Service is reached at the address `KubeEmulator.route_service`
gave it (no cluster network here); none → 503, as kube-apiserver answers when the
endpoint is down. `/apis` lists the aggregated groups and `/apis/<group>` is answered
locally, as kube-apiserver does from the APIService objects.

The published trust (`kube-system/extension-apiserver-authentication`) is written at start.
Not modelled: the availability controller (`status.conditions`), aggregated discovery (v2),
watches through the proxy (responses are read whole), `groupPriorityMinimum` ordering.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import aiohttp
from multidict import CIMultiDict

from tests.harness.kube import _errors, _pki, _rbac
from tests.harness.kube._server import Request, Response

if TYPE_CHECKING:
    from tests.harness.kube._authn import AuthApis
    from tests.harness.kube._cluster import Cluster

Obj = dict[str, Any]
PROXY_TIMEOUT = 30.0
CONFIGMAP = "extension-apiserver-authentication"


def trust_configmap(pki: _pki.Pki) -> Obj:
    """What kube-apiserver publishes for extension API servers (kubeadm's flags)."""
    return {
        "metadata": {"name": CONFIGMAP, "namespace": "kube-system"},
        "data": {
            "client-ca-file": pki.ca_cert.decode(),
            "requestheader-client-ca-file": pki.front_proxy_ca.decode(),
            "requestheader-allowed-names": json.dumps([_pki.FRONT_PROXY_CLIENT]),
            "requestheader-username-headers": json.dumps(["X-Remote-User"]),
            "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
            "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
        },
    }


class Aggregator:
    """Answers `/apis` paths that belong to an APIService with a `spec.service`."""

    def __init__(
        self,
        cluster: Cluster,
        pki: _pki.Pki,
        auth: AuthApis,
        routes: dict[tuple[str, str], tuple[str, int]],
    ) -> None:
        self.cluster, self.pki, self.auth, self.routes = cluster, pki, auth, routes

    def services(self) -> list[Obj]:
        """APIServices served by an extension API server (not local ones)."""
        rtype = self.cluster.registry.find("apiregistration.k8s.io", "v1", "apiservices")
        if rtype is None:
            return []
        found = [o for o in self.cluster.list(rtype, None) if (o.get("spec") or {}).get("service")]
        return sorted(found, key=lambda o: o["metadata"]["name"])

    def _find(self, group: str, version: str | None = None) -> list[Obj]:
        return [
            o
            for o in self.services()
            if o["spec"].get("group") == group
            and (version is None or o["spec"].get("version") == version)
        ]

    def group_doc(self, group: str) -> Obj | None:
        found = self._find(group)
        if not found:
            return None
        versions = [
            {"groupVersion": f"{group}/{o['spec']['version']}", "version": o["spec"]["version"]}
            for o in found
        ]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": versions,
            "preferredVersion": versions[0],
        }

    def groups(self) -> list[Obj]:
        names = sorted({o["spec"]["group"] for o in self.services()})
        return [doc for doc in (self.group_doc(n) for n in names) if doc is not None]

    async def handle(self, request: Request, parts: list[str]) -> Response | None:
        """The proxied answer, or None when the path is not an aggregated group/version."""
        if len(parts) < 3 or parts[0] != "apis":
            return None
        found = self._find(parts[1], parts[2])
        if not found:
            return None
        user = self.authenticate(request)
        if user is None:
            raise _errors.ApiError(401, "Unauthorized", "Unauthorized")
        self._authorize(request, parts, user)
        return await self._proxy(request, found[0], user)

    def authenticate(self, request: Request) -> tuple[str, tuple[str, ...]] | None:
        """(user, groups) from a verified client certificate, else the bearer token."""
        subject = _pki.subject_of(request.peer_cert)
        if subject is not None:
            return subject[0], (*subject[1], "system:authenticated")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        user = self.auth.resolve(token.strip())
        if user is None:
            return None
        return str(user["username"]), tuple(user.get("groups") or ())

    def _authorize(
        self, request: Request, parts: list[str], user: tuple[str, tuple[str, ...]]
    ) -> None:
        group, rest = parts[1], parts[3:]
        if not rest:
            return  # discovery: system:discovery is bound to every authenticated user
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        resource, name = rest[0], rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        watching = request.query.get("watch") in ("true", "1")
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
            request.method, "get" if name else ("watch" if watching else "list")
        )
        attrs = _rbac.Attributes(verb, namespace, group, resource, sub, name)
        ok, _ = _rbac.allowed(self.cluster, _rbac.Subject(*user), attrs)
        if ok:
            return
        what = f"{resource}.{group}" + (f' "{name}"' if name else "")
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        message = (
            f'{what} is forbidden: User "{user[0]}" cannot {verb} resource "{resource}" '
            f'in API group "{group}"{where}'
        )
        details = {"group": group, "kind": resource, **({"name": name} if name else {})}
        raise _errors.ApiError(403, "Forbidden", message, details)

    async def _proxy(
        self, request: Request, service: Obj, user: tuple[str, tuple[str, ...]]
    ) -> Response:
        spec = service["spec"]
        ref = spec["service"]
        target = self.routes.get((ref["namespace"], ref["name"]))
        if target is None:
            raise _errors.ApiError(503, "ServiceUnavailable", "service unavailable")
        bundle = spec.get("caBundle")
        context = self.pki.proxy_context(
            None if spec.get("insecureSkipTLSVerify") else base64.b64decode(bundle or "").decode()
        )
        headers = {
            k: v
            for k, v in request.headers.items()
            if k in ("accept", "content-type", "user-agent")
        }
        headers["X-Remote-User"] = user[0]
        url = f"https://{target[0]}:{target[1]}{request.path}"
        if request.query_string:
            url += f"?{request.query_string}"
        group_headers = [("X-Remote-Group", g) for g in user[1]]
        try:
            async with (
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
                session.request(
                    request.method,
                    url,
                    headers=CIMultiDict([*headers.items(), *group_headers]),
                    data=request.body or None,
                    server_hostname=f"{ref['name']}.{ref['namespace']}.svc",
                    timeout=aiohttp.ClientTimeout(total=PROXY_TIMEOUT),
                ) as answer,
            ):
                body = await answer.read()
                kind = answer.headers.get("content-type", "application/json")
                return Response(answer.status, body, kind)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            message = f"error trying to reach service: {exc}"
            raise _errors.ApiError(503, "ServiceUnavailable", message) from exc
