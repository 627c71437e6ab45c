"""Typed access to the K8sClaw kinds (and the few built-ins the CLI needs) over one ApiClient.

Returns the pydantic models of `k8sclaw_protocol`; every failure leaves as a `KubeError`
(see `_errors`). Requests go through the official client's `call_api` with raw JSON so a
1,000-object list costs one request and one `json.loads`.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any, TypeVar

from k8sclaw.kube import _errors, _kinds, _paths
from k8sclaw.kube._config import ClusterTarget, Connection, connect
from k8sclaw_protocol import Resource, names

R = TypeVar("R", bound=Resource)
FIELD_MANAGER = "k8sclaw"
_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds


class Kube:
    """One cluster connection; build it with `Kube.connect(target)`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.api_client = connection.api_client

    @classmethod
    def connect(cls, target: ClusterTarget | None = None) -> Kube:
        """Connect as `kubectl` would (flags, then KUBECONFIG, then ~/.kube/config)."""
        return cls(connect(target or ClusterTarget()))

    @property
    def namespace(self) -> str:
        """The kubeconfig context's namespace (kubectl's default for -n)."""
        return self.connection.namespace

    def close(self) -> None:
        """Close this client's connections now, not whenever the garbage collector gets
        to them (on a real API server an uninstall's long waits left a pile of sockets
        that surfaced as ResourceWarnings in some later test)."""
        self.api_client.rest_client.pool_manager.clear()
        self.api_client.close()

    # -- raw requests -------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        custom: bool = False,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        stream: bool = False,
        timeout: Any = _TIMEOUT,
    ) -> Any:
        """One API call; the parsed JSON body (or the open response when `stream`)."""
        from urllib3.exceptions import HTTPError

        headers = {"Accept": "application/json", "Content-Type": content_type}
        payload = body  # dict/list: the client serialises JSON (and JSON is valid YAML)
        client = self.api_client
        try:
            method, url, headers, payload, _ = client.param_serialize(
                method,
                path,
                query_params=query or [],
                header_params=headers,
                body=payload,
                auth_settings=["BearerToken"],
            )
            resp = client.call_api(
                method,
                url,
                header_params=headers,
                body=payload,
                _request_timeout=None if stream else timeout,
            )
        except HTTPError as exc:
            raise _errors.unreachable(self.connection.server, exc) from exc
        if not 200 <= resp.status <= 299:
            data = resp.read()
            resp.response.release_conn()  # back to the pool, so close() closes it too
            raise _errors.from_response(resp.status, resp.reason, data, what=what, custom=custom)
        if stream:
            return resp.response
        data = resp.read()
        return json.loads(data) if data else {}

    def get_raw(self, api_version: str, kind: str, name: str, namespace: str | None) -> Any:
        """One object of any kind in the path table, as a dict."""
        rtype = _paths.resource_type(api_version, kind)
        return self.request(
            "GET", rtype.item(name, namespace), what=f"{kind} {name}", custom=rtype.custom
        )

    def list_raw(
        self, api_version: str, kind: str, namespace: str | None, selector: str = ""
    ) -> list[dict[str, Any]]:
        """All objects of a kind (namespace None = all namespaces)."""
        rtype = _paths.resource_type(api_version, kind)
        query = [("labelSelector", selector)] if selector else []
        body = self.request(
            "GET", rtype.collection(namespace), what=rtype.plural, custom=rtype.custom, query=query
        )
        items: list[dict[str, Any]] = body.get("items") or []
        return items

    def apply(self, obj: dict[str, Any], *, force: bool = True, dry_run: bool = False) -> Any:
        """Server-side apply `obj` as field manager `k8sclaw`; returns the object after."""
        meta = obj["metadata"]
        rtype = _paths.resource_type(obj["apiVersion"], obj["kind"])
        query = [("fieldManager", FIELD_MANAGER)]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        return self.request(
            "PATCH",
            rtype.item(meta["name"], meta.get("namespace")),
            what=f"{obj['kind']} {meta['name']}",
            custom=rtype.custom,
            body=obj,
            query=query,
            content_type="application/apply-patch+yaml",
        )

    def patch_raw(
        self, api_version: str, kind: str, name: str, namespace: str | None, patch: Any
    ) -> Any:
        """JSON merge patch of one object."""
        rtype = _paths.resource_type(api_version, kind)
        return self.request(
            "PATCH",
            rtype.item(name, namespace),
            what=f"{kind} {name}",
            custom=rtype.custom,
            body=patch,
            content_type="application/merge-patch+json",
        )

    def delete_raw(
        self, api_version: str, kind: str, name: str, namespace: str | None, *, missing_ok: bool
    ) -> bool:
        """Delete one object (background propagation); False when it was already gone."""
        rtype = _paths.resource_type(api_version, kind)
        try:
            self.request(
                "DELETE",
                rtype.item(name, namespace),
                what=f"{kind} {name}",
                custom=rtype.custom,
                body={"propagationPolicy": "Background"},
            )
        except (_errors.NotFoundError, _errors.CRDsMissingError):
            if missing_ok:
                return False
            raise
        return True

    # -- typed K8sClaw kinds ----------------------------------------------------------

    def list(self, kind: type[R], namespace: str | None, selector: str = "") -> list[R]:
        """Objects of `kind` in `namespace` (None = all namespaces), parsed."""
        items = self.list_raw(names.GROUP_VERSION, kind.info.kind, namespace, selector)
        return [kind.from_wire(item) for item in items]

    def get(self, kind: type[R], name: str, namespace: str) -> R:
        """One object; NotFound names the kind and namespace."""
        try:
            body = self.get_raw(names.GROUP_VERSION, kind.info.kind, name, namespace)
        except _errors.NotFoundError as exc:
            info = kind.info
            raise _kinds.not_found(info.kind, info.singular, info.plural, name, namespace) from exc
        return kind.from_wire(body)

    def create(self, obj: R) -> R:
        """Create `obj` in its namespace; returns what the server stored."""
        rtype = _paths.resource_type(names.GROUP_VERSION, obj.info.kind)
        body = self.request(
            "POST",
            rtype.collection(obj.namespace),
            what=obj.info.plural,
            custom=True,
            body=obj.to_wire(),
        )
        return type(obj).from_wire(body)

    def patch(self, kind: type[R], name: str, namespace: str, patch: dict[str, Any]) -> R:
        """Merge-patch one object and return it."""
        body = self.patch_raw(names.GROUP_VERSION, kind.info.kind, name, namespace, patch)
        return kind.from_wire(body)

    def delete(self, kind: type[R], name: str, namespace: str) -> None:
        """Delete one object; NotFound when it does not exist."""
        self.delete_raw(names.GROUP_VERSION, kind.info.kind, name, namespace, missing_ok=False)

    def watch(
        self, kind: type[R], namespace: str | None, resource_version: str = ""
    ) -> Iterator[tuple[str, R]]:
        """Watch events `(ADDED|MODIFIED|DELETED, object)` until the server ends the stream."""
        rtype = _paths.resource_type(names.GROUP_VERSION, kind.info.kind)
        query = [("watch", "true"), ("allowWatchBookmarks", "false")]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        resp = self.request(
            "GET",
            rtype.collection(namespace),
            what=rtype.plural,
            custom=True,
            query=query,
            stream=True,
        )
        try:
            for line in iter_lines(resp):
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object", {})
                    raise _errors.KubeError(f"watch failed: {status.get('message', status)}")
                yield event["type"], kind.from_wire(event["object"])
        finally:
            resp.release_conn()

    def pod_logs(
        self, name: str, namespace: str, *, container: str, follow: bool, previous: bool = False
    ) -> Iterator[str]:
        """Lines of a container's log; with `follow`, until the container ends; `previous`:
        the log of its last terminated instance (a restarted container's, kubectl logs -p)."""
        resp = self._pod_log(name, namespace, container=container, follow=follow, previous=previous)
        try:
            yield from iter_lines(resp)
        finally:
            resp.release_conn()

    def pod_log_text(
        self, name: str, namespace: str, *, container: str, follow: bool
    ) -> Iterator[str]:
        """A container's log as decoded text, one piece per HTTP chunk received (a
        half-written line shows at once); with `follow`, until the container ends."""
        resp = self._pod_log(name, namespace, container=container, follow=follow)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")  # a character may span chunks
        try:
            for chunk in resp.stream(4096, decode_content=True):
                yield decoder.decode(chunk)
            yield decoder.decode(b"", final=True)
        finally:
            resp.release_conn()

    def _pod_log(
        self, name: str, namespace: str, *, container: str, follow: bool, previous: bool = False
    ) -> Any:
        """The open response of a container's log (`follow`: it stays open while it runs)."""
        path = f"/api/v1/namespaces/{namespace}/pods/{name}/log"
        query = [("container", container)] + ([("follow", "true")] if follow else [])
        query += [("previous", "true")] if previous else []
        return self.request("GET", path, what=f"logs of pod {name}", query=query, stream=True)


def iter_lines(resp: Any) -> Iterator[str]:
    """Split a streamed HTTP body into text lines as they arrive."""
    pending = b""
    for chunk in resp.stream(4096, decode_content=True):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")
