"""A small async Kubernetes REST client for the reconcilers (aiohttp + orjson, raw JSON).

The informers (`_informer`) watch and the reconcilers write through it. It speaks plain
paths and dict bodies (no model deserialisation, which dominates the official client's
cost at 1,000s of runs) and translates API `Status` failures once, into `KubeError` subclasses.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import kubernetes
import orjson

Body = dict[str, Any]
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"
FIELD_MANAGER = "k8sclaw-controller"


class KubeError(Exception):
    """The API server refused a request; `reason` is the Status reason (NotFound, ...)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class NotFoundError(KubeError):
    """404: the object (or its namespace) does not exist."""


class ConflictError(KubeError):
    """409: AlreadyExists on create, or a stale resourceVersion on update/patch."""


def load_configuration(kubeconfig: str | None) -> kubernetes.client.Configuration:
    """Client configuration from a kubeconfig file, else in-cluster, else the default file."""
    config = kubernetes.client.Configuration()
    if kubeconfig:
        kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=config)  # type: ignore[no-untyped-call]
        return config
    try:
        kubernetes.config.load_incluster_config(client_configuration=config)  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(client_configuration=config)  # type: ignore[no-untyped-call]
    return config


def auth_header(config: kubernetes.client.Configuration) -> str | None:
    """The Authorization header value of a configuration (token or basic), if any."""
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix(
        "authorization"
    )
    return str(header) if header else None


def _ssl_context(config: kubernetes.client.Configuration) -> ssl.SSLContext | bool:
    if not config.host.startswith("https"):
        return False
    context = ssl.create_default_context(cafile=config.ssl_ca_cert or None)
    if not config.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file)
    return context


class Kube:
    """Async JSON access to one API server; create with `Kube.connect`, close with `close`."""

    def __init__(self, session: aiohttp.ClientSession, host: str) -> None:
        self._session = session
        self._host = host.rstrip("/")

    @classmethod
    def connect(cls, config: kubernetes.client.Configuration, limit: int = 64) -> Kube:
        """A client sharing one connection pool of `limit` connections."""
        headers = {"Accept": "application/json"}
        if auth := auth_header(config):
            headers["Authorization"] = auth
        connector = aiohttp.TCPConnector(limit=limit, ssl=_ssl_context(config))
        timeout = aiohttp.ClientTimeout(total=60)
        session = aiohttp.ClientSession(
            connector=connector, headers=headers, timeout=timeout, json_serialize=_dumps
        )
        return cls(session, config.host)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._session.close()

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self._session.request(method, self._host + path, **kwargs) as response:
            if response.status >= 400:
                raise await _error(response)
            if response.content_type == "application/json":
                return await response.json(loads=orjson.loads)
            return await response.text()

    async def get(self, path: str, **params: str) -> Body:
        """GET an object (or list) as a dict."""
        result: Body = await self._request("GET", path, params=params or None)
        return result

    async def text(self, path: str, **params: str) -> str:
        """GET a text subresource such as pods/log."""
        return str(await self._request("GET", path, params=params or None))

    async def create(self, path: str, body: Body) -> Body:
        """POST a new object to a collection path."""
        result: Body = await self._request("POST", path, json=body)
        return result

    async def patch(self, path: str, body: Any, content_type: str = MERGE) -> Body:
        """PATCH with a merge patch (default) or a JSON patch."""
        headers = {"Content-Type": content_type}
        result: Body = await self._request("PATCH", path, json=body, headers=headers)
        return result

    async def apply(self, path: str, body: Body) -> Body:
        """Server-side apply `body` (JSON is YAML) as the controller's field manager."""
        headers = {"Content-Type": APPLY}
        params = {"fieldManager": FIELD_MANAGER, "force": "true"}
        result: Body = await self._request("PATCH", path, json=body, headers=headers, params=params)
        return result

    async def delete(self, path: str, propagation: str = "Background") -> None:
        """DELETE an object; NotFoundError is the caller's to ignore."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        await self._request("DELETE", path, json=body)

    async def stream_lines(
        self, path: str, params: dict[str, str], read_timeout: float
    ) -> AsyncIterator[bytes]:
        """GET a streaming response (a watch) and yield its non-empty lines.

        Split here rather than with `StreamReader.readline`, which refuses lines longer
        than its buffer (128 KiB): one object of a watch is one line, of any size. A
        stream silent for `read_timeout` is closed and raises TimeoutError (a watchdog,
        not aiohttp's `sock_read`, which re-arms a timer on every chunk received).
        """
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with self._session.get(self._host + path, params=params, timeout=timeout) as reply:
            if reply.status >= 400:
                raise await _error(reply)
            watchdog = _Watchdog(reply, read_timeout)
            pending = b""
            try:
                async for chunk in reply.content.iter_any():
                    watchdog.fed = True
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield line
            except aiohttp.ClientError as exc:
                if watchdog.fired:
                    raise TimeoutError(f"no data on {path} for {read_timeout:g}s") from exc
                raise
            finally:
                watchdog.stop()
            if pending.strip():
                yield pending

    async def items(self, path: str, label_selector: str = "") -> list[Body]:
        """The items of a list, optionally filtered by a label selector."""
        params = {"labelSelector": label_selector} if label_selector else {}
        listing = await self.get(path, **params)
        items: list[Body] = listing.get("items") or []
        return items


def _dumps(body: Any) -> str:
    """JSON for request bodies (orjson: several times faster than `json.dumps`)."""
    return orjson.dumps(body).decode()


class _Watchdog:
    """Closes a streaming response that received nothing for a whole period."""

    def __init__(self, reply: aiohttp.ClientResponse, period: float) -> None:
        self._reply, self._period = reply, period
        self.fed, self.fired = False, False
        self._handle = asyncio.get_running_loop().call_later(period, self._check)

    def _check(self) -> None:
        if self.fed:
            self.fed = False
            self._handle = asyncio.get_running_loop().call_later(self._period, self._check)
            return
        self.fired = True
        self._reply.close()

    def stop(self) -> None:
        """Disarm (the stream ended or was abandoned)."""
        self._handle.cancel()


async def _error(response: aiohttp.ClientResponse) -> KubeError:
    try:
        status = await response.json(content_type=None)
    except ValueError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    reason = str(status.get("reason") or response.reason or "")
    message = str(status.get("message") or "")
    kind = {404: NotFoundError, 409: ConflictError}.get(response.status, KubeError)
    return kind(response.status, reason, message)


def collection(api: str, plural: str, namespace: str | None) -> str:
    """Path of a collection of `api` ("v1" for the core group, else "group/version"), in
    one namespace or (None) across all of them."""
    base = "/api/v1" if api == "v1" else f"/apis/{api}"
    return f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"


def core(namespace: str, plural: str, name: str = "", sub: str = "") -> str:
    """Path of a core/v1 namespaced collection or object."""
    return _join(collection("v1", plural, namespace), name, sub)


def group(api: str, namespace: str, plural: str, name: str = "", sub: str = "") -> str:
    """Path of a namespaced collection or object of an API group version (e.g. batch/v1)."""
    return _join(collection(api, plural, namespace), name, sub)


def claw(namespace: str, plural: str, name: str = "", sub: str = "") -> str:
    """Path of a K8sClaw custom resource collection or object."""
    return group("k8sclaw.io/v1alpha1", namespace, plural, name, sub)


def _join(base: str, name: str, sub: str) -> str:
    path = f"{base}/{name}" if name else base
    return f"{path}/{sub}" if sub else path
