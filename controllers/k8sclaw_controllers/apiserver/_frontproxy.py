"""Front-proxy (request-header) authentication, as every aggregated API server does it.

kube-apiserver authenticates the user however they log in (token, exec plugin, client
certificate, OIDC), then proxies the request for our APIService over mTLS with its
front-proxy client certificate and the identity in `X-Remote-User`, `X-Remote-Group`
and `X-Remote-Extra-<key>`. Those headers are trusted only when the TLS peer presented a
certificate that verified against the request-header CA (the TLS layer of `_secure`
loads only that CA for client verification) and whose common name is one of the allowed
names. All of it is published by the cluster in `kube-system/extension-apiserver-authentication`.
Anyone else sending the headers is ignored: the request needs a bearer token instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from k8sclaw_controllers.apiserver._auth import Caller
from k8sclaw_controllers.apiserver._errors import ApiError
from k8sclaw_controllers.manager import _kube

log = logging.getLogger("k8sclaw.apiserver")

CONFIGMAP = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
PEER_KEY = "k8sclaw.peer"
"""Scope extension `_secure` sets: the verified client certificate's common name."""
MAX_GROUPS = 256


@dataclass(frozen=True)
class FrontProxy:
    """The cluster's request-header settings (defaults are kube-apiserver's usual flags)."""

    ca_pem: str
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ("x-remote-user",)
    group_headers: tuple[str, ...] = ("x-remote-group",)
    extra_prefixes: tuple[str, ...] = ("x-remote-extra-",)

    @classmethod
    def from_configmap(cls, data: dict[str, str]) -> FrontProxy | None:
        """None when the cluster publishes no request-header CA (no aggregation layer)."""
        ca = (data.get("requestheader-client-ca-file") or "").strip()
        if not ca:
            return None

        def names(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            raw = data.get(key)
            if raw is None:
                return default
            values = json.loads(raw) or []
            return tuple(str(v) for v in values)

        return cls(
            ca_pem=ca + "\n",
            allowed_names=names("requestheader-allowed-names", ()),
            username_headers=tuple(
                h.lower() for h in names("requestheader-username-headers", ("X-Remote-User",))
            ),
            group_headers=tuple(
                h.lower() for h in names("requestheader-group-headers", ("X-Remote-Group",))
            ),
            extra_prefixes=tuple(
                h.lower() for h in names("requestheader-extra-headers-prefix", ("X-Remote-Extra-",))
            ),
        )

    def identify(self, peer_name: str, headers: Iterable[tuple[str, str]]) -> Caller:
        """The user kube-apiserver forwarded; `peer_name` is the verified certificate's CN."""
        if self.allowed_names and peer_name not in self.allowed_names:
            raise ApiError(
                401,
                f'client certificate "{peer_name}" is not in requestheader-allowed-names',
            )
        pairs = [(k.lower(), v) for k, v in headers]
        user = next(
            (v for h in self.username_headers for k, v in pairs if k == h and v.strip()), ""
        )
        if not user:
            raise ApiError(401, "the front proxy sent no user (X-Remote-User)")
        # one group per header line, never split on commas (as kube-apiserver reads them)
        groups = [v.strip() for k, v in pairs if k in self.group_headers]
        extra: dict[str, list[str]] = {}
        for key, value in pairs:
            for prefix in self.extra_prefixes:
                if key.startswith(prefix) and len(key) > len(prefix):
                    extra.setdefault(unquote(key[len(prefix) :]).lower(), []).append(value)
        return Caller(
            user.strip(),
            tuple(g for g in groups if g)[:MAX_GROUPS],
            extra=tuple(sorted((k, tuple(v)) for k, v in extra.items())),
        )


async def load(kube: _kube.Kube) -> FrontProxy | None:
    """The cluster's front-proxy settings, or None (logged) when they cannot be read."""
    try:
        found: dict[str, Any] = await kube.get(CONFIGMAP)
    except _kube.KubeError as exc:
        log.warning(
            "aggregated API disabled: cannot read kube-system/extension-apiserver-authentication "
            "(%s); bind the ServiceAccount to the Role extension-apiserver-authentication-reader",
            exc.reason,
        )
        return None
    proxy = FrontProxy.from_configmap(found.get("data") or {})
    if proxy is None:
        log.warning("aggregated API disabled: the cluster publishes no requestheader client CA")
    return proxy
