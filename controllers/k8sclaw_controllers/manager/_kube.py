"""A small async Kubernetes REST client for the reconcilers (our own HTTP/1.1, orjson, raw JSON).

The informers (`_informer`) watch and the reconcilers write through it. It speaks plain
paths and dict bodies (no model deserialisation, which dominates the official client's
cost at 1,000s of runs) and translates API `Status` failures once, into `KubeError` subclasses.
Transport failures surface as OSError, TimeoutError or ValueError (`_http`).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import kubernetes
import orjson
import yaml

from k8sclaw_controllers.manager import _http, _token

Body = dict[str, Any]
JSON = "application/json"
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"
FIELD_MANAGER = "k8sclaw-controller"
SERVICE_TOKEN = kubernetes.config.incluster_config.SERVICE_TOKEN_FILENAME
TOKEN_FILE = "k8sclaw_token_file"  # the Configuration attribute naming a token's file


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
    """Client configuration from a kubeconfig file, else in-cluster, else the default file.

    When the bearer token comes from a file (in-cluster: the projected ServiceAccount token;
    a kubeconfig user's `tokenFile`), `token_file(config)` names it, and `Kube.connect`
    re-reads it as it rotates instead of keeping the token loaded here.
    """
    config = kubernetes.client.Configuration()
    if kubeconfig:
        kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=config)  # type: ignore[no-untyped-call]
        setattr(config, TOKEN_FILE, _kubeconfig_token_file(kubeconfig))
        return config
    try:
        kubernetes.config.load_incluster_config(client_configuration=config)  # type: ignore[no-untyped-call]
        setattr(config, TOKEN_FILE, SERVICE_TOKEN)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(client_configuration=config)  # type: ignore[no-untyped-call]
        default = os.path.expanduser(os.environ.get("KUBECONFIG") or "~/.kube/config")
        if os.pathsep not in default:  # (a merged list: its users are not looked into)
            setattr(config, TOKEN_FILE, _kubeconfig_token_file(default))
    return config


def token_file(config: kubernetes.client.Configuration) -> str | None:
    """The file the configuration's bearer token is read from, if it is read from one."""
    path = getattr(config, TOKEN_FILE, None)
    return str(path) if path else None


def _kubeconfig_token_file(path: str) -> str | None:
    """The current context's user's `tokenFile` (relative to the kubeconfig), if any."""
    with open(path, encoding="utf-8") as file:
        doc = yaml.safe_load(file) or {}
    current = doc.get("current-context")
    context: Body = next((c for c in doc.get("contexts") or [] if c.get("name") == current), {})
    user_name = (context.get("context") or {}).get("user")
    user: Body = next((u for u in doc.get("users") or [] if u.get("name") == user_name), {})
    name = (user.get("user") or {}).get("tokenFile")
    return os.path.join(os.path.dirname(os.path.abspath(path)), name) if name else None


def auth_header(config: kubernetes.client.Configuration) -> str | None:
    """The Authorization header value of a configuration (token or basic), if any."""
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix(
        "authorization"
    )
    return str(header) if header else None


def _ssl_context(config: kubernetes.client.Configuration) -> ssl.SSLContext | None:
    if not config.host.startswith("https"):
        return None
    context = ssl.create_default_context(cafile=config.ssl_ca_cert or None)
    if not config.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file)
    return context


class Kube:
    """Async JSON access to one API server; create with `Kube.connect`, close with `close`."""

    def __init__(self, client: _http.Client, token: _token.TokenFile | None = None) -> None:
        self._http = client
        self._token = token
        if token is not None:
            client.auth = token.header

    @classmethod
    def connect(cls, config: kubernetes.client.Configuration, limit: int = 64) -> Kube:
        """A client sharing one pool of at most `limit` connections (0: no limit).

        A token read from a file (`token_file`) is re-read when the file changes and after
        a 401; any other credential is fixed for the client's life."""
        headers = {"Accept": "application/json", "User-Agent": FIELD_MANAGER}
        path = token_file(config)
        token = _token.TokenFile(path) if path else None
        if token is None and (auth := auth_header(config)):
            headers["Authorization"] = auth
        return cls(_http.Client(config.host, headers, _ssl_context(config), limit), token)

    def _renewed(self) -> bool:
        """After a 401: re-read the token file; True if it now holds another token, so the
        refused request is worth sending once more (a revoked token, unchanged, is not)."""
        if self._token is None:
            return False
        try:
            return self._token.reload()
        except (OSError, _token.TokenError):
            return False

    async def close(self) -> None:
        """Close every connection."""
        await self._http.close()

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
        *,
        read: bool = True,
    ) -> Any:
        data = None if body is None else orjson.dumps(body)
        response = await self._send(method, path, params, data, content_type)
        if not read:
            return {}
        kind = response.headers.get("content-type", "").partition(";")[0].strip()
        if kind == JSON:
            return orjson.loads(response.body) if response.body else None
        return response.body.decode(errors="replace")

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        content_type: str = JSON,
    ) -> _http.Response:
        """One request, sent again once after a 401 if the token file now holds another
        token; a refusal (>= 400) raises its KubeError."""
        response = await self._http.request(method, path, params, data, content_type)
        if response.status == 401 and self._renewed():
            response = await self._http.request(method, path, params, data, content_type)
        if response.status >= 400:
            raise _error(response)
        return response

    async def raw(self, path: str, **params: str) -> bytes:
        """GET a JSON body as the bytes that came, for a caller that re-encodes it without
        building dicts (the API server's lists: `apiserver._listing`)."""
        return (await self._send("GET", path, params, None)).body

    async def get(self, path: str, **params: str) -> Body:
        """GET an object (or list) as a dict."""
        result: Body = await self._request("GET", path, params)
        return result

    async def text(self, path: str, **params: str) -> str:
        """GET a text subresource such as pods/log."""
        return str(await self._request("GET", path, params))

    async def create(self, path: str, body: Body, *, read: bool = True) -> Body:
        """POST a new object to a collection path; the stored object, or `{}` when `read`
        is False (a caller that ignores the echo skips decoding it: a Job is ~5 KB)."""
        result: Body = await self._request("POST", path, body=body, read=read)
        return result

    async def patch(
        self, path: str, body: Any, content_type: str = MERGE, *, read: bool = True
    ) -> Body:
        """PATCH with a merge patch (default) or a JSON patch; `read` as for `create`."""
        result: Body = await self._request(
            "PATCH", path, body=body, content_type=content_type, read=read
        )
        return result

    async def apply(self, path: str, body: Body) -> Body:
        """Server-side apply `body` (JSON is YAML) as the controller's field manager."""
        params = {"fieldManager": FIELD_MANAGER, "force": "true"}
        result: Body = await self._request("PATCH", path, params, body, APPLY)
        return result

    async def delete(self, path: str, propagation: str = "Background") -> None:
        """DELETE an object; NotFoundError is the caller's to ignore."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        await self._request("DELETE", path, body=body)

    async def stream_lines(
        self, path: str, params: dict[str, str], read_timeout: float
    ) -> AsyncIterator[bytes]:
        """GET a streaming response (a watch) and yield its non-empty lines.

        One object of a watch is one line, of any size. A stream silent for `read_timeout`
        raises TimeoutError. The connection is the stream's own, closed when the stream
        ends, fails, or its consumer stops (aclose, cancellation).
        """
        stream = await self._http.stream(path, params, read_timeout)
        if stream.status == 401 and self._renewed():
            stream.close()
            stream = await self._http.stream(path, params, read_timeout)
        try:
            if stream.status >= 400:
                body = await stream.body()
                raise _error(_http.Response(stream.status, stream.reason, stream.headers, body))
            pending: list[bytes] = []  # the start of a line whose end has not arrived
            while chunk := await stream.read():
                pending.append(chunk)
                if b"\n" not in chunk:
                    continue
                *lines, rest = b"".join(pending).split(b"\n")
                pending = [rest]
                for line in lines:
                    if line.strip():
                        yield line
            if (rest := b"".join(pending)).strip():
                yield rest
        finally:
            stream.close()

    async def items(self, path: str, label_selector: str = "") -> list[Body]:
        """The items of a list, optionally filtered by a label selector."""
        params = {"labelSelector": label_selector} if label_selector else {}
        listing = await self.get(path, **params)
        items: list[Body] = listing.get("items") or []
        return items


def _error(response: _http.Response) -> KubeError:
    """The KubeError for a failed response, from its API `Status` body when it has one."""
    try:
        status = orjson.loads(response.body)
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
