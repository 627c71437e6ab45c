"""A small kubeconfig reader for the fast read path (no kubernetes client import).

`load(target)` resolves the same files and context as `_config.connect` and turns the
context into a `RestConfig`: server, namespace, TLS material and an Authorization
header. It handles what nearly every kubeconfig uses — CA data/file,
insecure-skip-tls-verify, tls-server-name, client cert/key data/file, bearer
token/tokenFile, basic auth and exec credential plugins. Anything else (auth-provider,
impersonation, proxies, in-cluster config, a malformed file) raises `UnsupportedConfigError`
with the reason, and the caller falls back to the official client, which keeps its
own behaviour and error messages for those cases.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k8sclaw.kube import _errors, _exec
from k8sclaw.kube._config import (
    _NO_CONFIG_HINT,
    DEFAULT_NAMESPACE,
    ClusterTarget,
    kubeconfig_paths,
    pick_context,
)

_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


class UnsupportedConfigError(Exception):
    """This kubeconfig needs the official client; `str(exc)` says why."""


@dataclass(frozen=True)
class RestConfig:
    """Everything needed to send one authenticated request to the API server."""

    server: str
    context: str
    namespace: str
    headers: dict[str, str] = field(default_factory=dict)
    ca_pem: str | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = None


def load(target: ClusterTarget) -> RestConfig:
    """The connection settings of `target`; `NoKubeconfigError` as `connect` raises it."""
    paths = [p for p in kubeconfig_paths(target) if p.is_file()]
    if not paths:
        if not target.kubeconfig and os.environ.get("KUBERNETES_SERVICE_HOST"):
            raise UnsupportedConfigError("in-cluster service account config")
        wanted = target.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise _errors.NoKubeconfigError(f"no kubeconfig found at {wanted}", hint=_NO_CONFIG_HINT)
    if any(os.environ.get(var) for var in _PROXY_VARS):
        raise UnsupportedConfigError("an HTTP proxy is configured in the environment")
    merged = _merge(paths)
    contexts = [c for c in merged["contexts"].values() if isinstance(c.get("context"), dict)]
    current = merged["contexts"].get(merged["current"]) if merged["current"] else None
    if merged["current"] and current is None and not target.context:
        raise UnsupportedConfigError(f"current-context {merged['current']!r} is not defined")
    chosen = pick_context(contexts, current, target.context)
    ctx = chosen["context"]
    cluster = merged["clusters"].get(ctx.get("cluster"))
    user = merged["users"].get(ctx.get("user"), {"user": {}})
    if cluster is None or not isinstance(cluster.get("cluster"), dict):
        raise UnsupportedConfigError(f"context {chosen['name']!r} names no known cluster")
    return _rest_config(chosen, cluster, user)


def _merge(paths: list[Path]) -> dict[str, Any]:
    """kubectl's merge of a KUBECONFIG path list: the first file to name an entry wins."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    merged: dict[str, Any] = {"clusters": {}, "contexts": {}, "users": {}, "current": ""}
    for path in paths:
        try:
            doc = yaml.load(path.read_bytes(), Loader=loader) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UnsupportedConfigError(f"cannot read {path}: {type(exc).__name__}") from exc
        if not isinstance(doc, dict):
            raise UnsupportedConfigError(f"{path} is not a kubeconfig mapping")
        for section in ("clusters", "contexts", "users"):
            for entry in doc.get(section) or []:
                if not isinstance(entry, dict) or "name" not in entry:
                    raise UnsupportedConfigError(f"{path}: malformed {section} entry")
                merged[section].setdefault(entry["name"], {**entry, "_dir": str(path.parent)})
        merged["current"] = merged["current"] or doc.get("current-context") or ""
    return merged


def _rest_config(
    chosen: dict[str, Any], cluster: dict[str, Any], user: dict[str, Any]
) -> RestConfig:
    spec = cluster["cluster"]
    server = str(spec.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise UnsupportedConfigError(f"cluster {cluster['name']!r} has no http(s) server URL")
    if spec.get("proxy-url"):
        raise UnsupportedConfigError("the cluster uses proxy-url")
    auth = user.get("user") or {}
    for field_name in ("auth-provider", "as", "as-groups", "as-uid", "as-user-extra"):
        if auth.get(field_name):
            raise UnsupportedConfigError(f"user {user.get('name')!r} uses {field_name!r}")
    cert, key, headers = _credentials(auth, user.get("_dir", "."), chosen, spec)
    return RestConfig(
        server=server,
        context=chosen["name"],
        namespace=chosen["context"].get("namespace") or DEFAULT_NAMESPACE,
        headers=headers,
        ca_pem=_pem(spec, "certificate-authority", cluster["_dir"]),
        insecure=bool(spec.get("insecure-skip-tls-verify")),
        tls_server_name=spec.get("tls-server-name") or None,
        client_cert_pem=cert,
        client_key_pem=key,
    )


def _credentials(
    auth: dict[str, Any], base: str, chosen: dict[str, Any], cluster: dict[str, Any]
) -> tuple[str | None, str | None, dict[str, str]]:
    """Client certificate, key and headers from a user entry (exec plugin first)."""
    cert = _pem(auth, "client-certificate", base)
    key = _pem(auth, "client-key", base)
    token: str | None = auth.get("token")
    if not token and auth.get("tokenFile"):
        token = _read(auth["tokenFile"], base).strip()
    if isinstance(auth.get("exec"), dict):
        cred = _exec.run_plugin(auth["exec"], cluster=cluster, context=chosen["name"])
        token = cred.token or token
        cert, key = cred.client_cert_pem or cert, cred.client_key_pem or key
    headers: dict[str, str] = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif auth.get("username") and auth.get("password"):
        raw = f"{auth['username']}:{auth['password']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    return cert, key, headers


def _pem(entry: dict[str, Any], key: str, base: str) -> str | None:
    """`<key>-data` (base64) or the file `<key>` (relative to the kubeconfig), as PEM text."""
    data = entry.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(data).decode()
        except ValueError as exc:
            raise UnsupportedConfigError(f"{key}-data is not base64") from exc
    if entry.get(key):
        return _read(entry[key], base)
    return None


def _read(name: str, base: str) -> str:
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = Path(base) / path
    try:
        return path.read_text()
    except OSError as exc:
        raise UnsupportedConfigError(f"cannot read {path}: {exc.strerror}") from exc
