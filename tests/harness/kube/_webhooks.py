"""Calls to registered admission webhooks, as kube-apiserver makes them.

Matching: `rules` (operations, apiGroups, apiVersions, resources incl. `x/status`,
scope), `namespaceSelector`, `objectSelector`. Transport: HTTPS POST of an
AdmissionReview v1 to `clientConfig.url`, or to `clientConfig.service` (reached through
`KubeEmulator.route_service`, verified as `<name>.<namespace>.svc`), the certificate
checked against `caBundle`. `failurePolicy` (default Fail) and `timeoutSeconds` are
honoured; mutating webhooks return base64 JSONPatch. Not modelled: matchConditions
(CEL), reinvocation, `sideEffects` dry-run filtering beyond skipping dry runs.

Clients: like kube-apiserver's webhook ClientManager, one HTTPS client per (server,
TLS name, caBundle) is kept with keep-alive connections and reused by every webhook
that points there; a configuration that changes its URL, Service or caBundle gets a
new client, never the old one. Building an SSL context per call loaded the system
trust store each time (~60 ms) and made every call a fresh TLS handshake.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import uuid
from collections import OrderedDict
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import aiohttp

from tests.harness.kube import _errors, _patch, _selectors

if TYPE_CHECKING:
    from tests.harness.kube._cluster import Cluster
    from tests.harness.kube._types import ResourceType

Obj = dict[str, Any]
REQUEST_USER: ContextVar[dict[str, Any] | None] = ContextVar("request_user", default=None)
"""The authenticated caller of the request being admitted (`userInfo`), set by the router
when the request carries a token the emulator knows; the admin otherwise."""
ADMIN_USER_INFO: dict[str, Any] = {
    "username": "kubernetes-admin",
    "groups": ["system:masters", "system:authenticated"],
}
MUTATING = ("admissionregistration.k8s.io", "mutatingwebhookconfigurations")
VALIDATING = ("admissionregistration.k8s.io", "validatingwebhookconfigurations")
MAX_CLIENTS = 32
"""Cached webhook clients; the least recently used one is closed beyond this."""
ClientKey = tuple[str, str | None, str]


class _Clients:
    """Keep-alive HTTPS sessions keyed by (scheme://host:port, TLS server name, caBundle)."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[ClientKey, aiohttp.ClientSession] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def session(self, url: str, server_hostname: str | None, bundle: str) -> aiohttp.ClientSession:
        """The cached session for this target and trust, created on first use."""
        parts = url.split("/", 3)
        key = ("/".join(parts[:3]), server_hostname, bundle)
        session = self._sessions.get(key)
        if session is None or session.closed:
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=_context(bundle)))
            self._sessions[key] = session
        self._sessions.move_to_end(key)
        while len(self._sessions) > MAX_CLIENTS:
            _, oldest = self._sessions.popitem(last=False)
            # Closing only drops idle keep-alive connections; a call in flight on it
            # holds its own connection until it completes.
            task = asyncio.get_running_loop().create_task(oldest.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return session

    async def close(self) -> None:
        """Close every cached session (the emulator is stopping)."""
        sessions, self._sessions = list(self._sessions.values()), OrderedDict()
        for session in sessions:
            await session.close()
        await asyncio.gather(*self._closing)

    def __len__(self) -> int:
        return len(self._sessions)


def _context(bundle: str) -> ssl.SSLContext:
    if bundle:
        return ssl.create_default_context(cadata=base64.b64decode(bundle).decode())
    return ssl.create_default_context()


def _rule_matches(rule: Obj, operation: str, rtype: ResourceType, subresource: str | None) -> bool:
    resource = rtype.plural + (f"/{subresource}" if subresource else "")
    ops = rule.get("operations") or []
    if "*" not in ops and operation not in ops:
        return False
    if not ({"*", rtype.group} & set(rule.get("apiGroups") or [])):
        return False
    if not ({"*", rtype.version} & set(rule.get("apiVersions") or [])):
        return False
    allowed = set(rule.get("resources") or [])
    wildcard = "*" if subresource is None else f"*/{subresource}"
    if not ({resource, wildcard, "*/*"} & allowed):
        return False
    scope = rule.get("scope", "*")
    return scope in ("*", "Namespaced" if rtype.namespaced else "Cluster")


class Webhooks:
    """Finds and calls the webhooks that apply to one request."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.service_routes: dict[tuple[str, str], tuple[str, int]] = {}
        self.clients = _Clients()

    async def close(self) -> None:
        """Close the cached webhook clients and their connections."""
        await self.clients.close()

    def _applicable(
        self,
        key: tuple[str, str],
        operation: str,
        rtype: ResourceType,
        obj: Obj,
        subresource: str | None,
    ) -> list[Obj]:
        hooks = []
        for config in self.cluster.store.list_peek(key):  # read-only
            for hook in config.get("webhooks") or []:
                if any(
                    _rule_matches(r, operation, rtype, subresource) for r in hook.get("rules") or []
                ) and self._selectors_match(hook, rtype, obj):
                    hooks.append(hook)
        return hooks

    def _selectors_match(self, hook: Obj, rtype: ResourceType, obj: Obj) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if not _selectors.match_label_selector(hook.get("objectSelector") or {}, labels):
            return False
        ns_selector = hook.get("namespaceSelector") or {}
        if not ns_selector:
            return True
        if rtype.kind == "Namespace" and not rtype.group:
            return _selectors.match_label_selector(ns_selector, labels)
        if not rtype.namespaced:
            return True
        ns = self.cluster.store.peek(("", "namespaces"), "", obj["metadata"].get("namespace", ""))
        ns_labels = ((ns or {}).get("metadata") or {}).get("labels") or {}
        return _selectors.match_label_selector(ns_selector, ns_labels)

    async def run(
        self,
        operation: str,
        rtype: ResourceType,
        obj: Obj | None,
        old: Obj | None,
        *,
        mutating: bool,
        dry_run: bool,
        subresource: str | None = None,
    ) -> Obj | None:
        """Call each applicable webhook; returns the (possibly patched) object."""
        subject = obj if obj is not None else old or {}
        key = MUTATING if mutating else VALIDATING
        for hook in self._applicable(key, operation, rtype, subject, subresource):
            review = self._review(
                operation, rtype, obj, old, dry_run=dry_run, subresource=subresource
            )
            response = await self._call(hook, review)
            if response is None:
                continue
            if not response.get("allowed"):
                raise self._denied(hook["name"], response.get("status") or {})
            if mutating and obj is not None and response.get("patch"):
                ops = json.loads(base64.b64decode(response["patch"]))
                obj = _patch.json_patch(obj, ops)
        return obj

    def _review(
        self,
        operation: str,
        rtype: ResourceType,
        obj: Obj | None,
        old: Obj | None,
        *,
        dry_run: bool,
        subresource: str | None,
    ) -> Obj:
        subject = obj if obj is not None else old or {}
        gvk = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
        gvr = {"group": rtype.group, "version": rtype.version, "resource": rtype.plural}
        options_kind = {
            "CREATE": "CreateOptions",
            "UPDATE": "UpdateOptions",
            "DELETE": "DeleteOptions",
        }[operation]
        request: Obj = {
            "uid": str(uuid.uuid4()),
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": subject.get("metadata", {}).get("name", ""),
            "operation": operation,
            "userInfo": REQUEST_USER.get() or ADMIN_USER_INFO,
            "object": obj,
            "oldObject": old,
            "dryRun": dry_run,
            "options": {"kind": options_kind, "apiVersion": "meta.k8s.io/v1"},
        }
        if rtype.namespaced:
            request["namespace"] = subject.get("metadata", {}).get("namespace", "")
        if subresource:
            request["subResource"] = request["requestSubResource"] = subresource
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}

    def _target(self, hook: Obj) -> tuple[str, str | None]:
        config = hook.get("clientConfig") or {}
        if config.get("url"):
            return str(config["url"]), None
        service = config.get("service") or {}
        ns, name = service.get("namespace", ""), service.get("name", "")
        host, port = self.service_routes.get(
            (ns, name), (f"{name}.{ns}.svc", service.get("port", 443))
        )
        return f"https://{host}:{port}{service.get('path', '')}", f"{name}.{ns}.svc"

    async def _call(self, hook: Obj, review: Obj) -> Obj | None:
        url, server_hostname = self._target(hook)
        bundle = str((hook.get("clientConfig") or {}).get("caBundle") or "")
        timeout = aiohttp.ClientTimeout(total=hook.get("timeoutSeconds", 10))
        try:
            try:
                return await self._post(url, server_hostname, bundle, review, timeout)
            except aiohttp.ServerDisconnectedError:
                # A kept-alive connection the webhook closed while idle: retry once on
                # a fresh one, as Go's transport does for a reused connection.
                return await self._post(url, server_hostname, bundle, review, timeout)
        except (TimeoutError, aiohttp.ClientError, KeyError, ValueError, OSError) as exc:
            if hook.get("failurePolicy", "Fail") == "Ignore":
                return None
            raise _errors.internal(
                f'Internal error occurred: failed calling webhook "{hook["name"]}": '
                f'failed to call webhook: Post "{url}": {exc}'
            ) from exc

    async def _post(
        self,
        url: str,
        server_hostname: str | None,
        bundle: str,
        review: Obj,
        limits: aiohttp.ClientTimeout,
    ) -> Obj:
        session = self.clients.session(url, server_hostname, bundle)
        async with session.post(
            url, json=review, server_hostname=server_hostname, timeout=limits
        ) as response:
            if response.status != 200:
                raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
            body = await response.json(content_type=None)
        return dict(body["response"])

    def _denied(self, name: str, status: Obj) -> _errors.ApiError:
        denied = f'admission webhook "{name}" denied the request'
        message = status.get("message") or status.get("reason")
        text = f"{denied}: {message}" if message else f"{denied} without explanation"
        code = max(int(status.get("code") or 400), 400)
        return _errors.ApiError(code, str(status.get("reason") or ""), text, status.get("details"))
