"""Who is calling (TokenReview or the static admin token) and may they (SubjectAccessReview).

Kubernetes is the one source of identity and permission: a bearer token is resolved by the
cluster's TokenReview API (ServiceAccount tokens, OIDC tokens, whatever the cluster
accepts), and every action is asked of SubjectAccessReview as the verb `kubectl` would need
on the K8sClaw kind. The static admin token (optional, from a Secret) is compared in
constant time and is allowed everything. The API server never decides a permission itself.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from k8sclaw_controllers.apiserver._cache import TtlCache
from k8sclaw_controllers.apiserver._errors import ApiError
from k8sclaw_controllers.manager import _kube

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
ADMIN_USER = "k8sclaw:static-admin"
GROUP = "k8sclaw.io"
MAX_TOKEN_BYTES = 16_384


@dataclass(frozen=True)
class Caller:
    """An authenticated user, exactly as the cluster named it."""

    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    admin: bool = False


@dataclass(frozen=True)
class Access:
    """One question for SubjectAccessReview (a resource attribute set)."""

    verb: str
    resource: str
    namespace: str = ""
    name: str = ""
    group: str = GROUP
    subresource: str = ""

    def describe(self) -> str:
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        qualified = f"{what}.{self.group}" if self.group else what
        where = (
            f' in the namespace "{self.namespace}"' if self.namespace else " at the cluster scope"
        )
        named = f' "{self.name}"' if self.name else ""
        return f'cannot {self.verb} resource "{qualified}"{named}{where}'


def bearer(header: str | None) -> str:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token: send `Authorization: Bearer <token>`")
    if len(token) > MAX_TOKEN_BYTES:
        raise ApiError(401, "bearer token is too long")
    return token.strip()


@dataclass
class Authenticator:
    """Resolves bearer tokens; answers are cached for `ttl` seconds (bounded)."""

    kube: _kube.Kube
    static_token: Callable[[], str | None]
    ttl: float = 30.0
    _cache: TtlCache[Caller | str] = field(init=False)

    def __post_init__(self) -> None:
        self._cache = TtlCache(self.ttl)

    async def authenticate(self, header: str | None) -> Caller:
        token = bearer(header)
        static = self.static_token()
        if static and hmac.compare_digest(token.encode(), static.encode()):
            return Caller(ADMIN_USER, ("system:authenticated",), admin=True)
        key = hashlib.sha256(token.encode()).digest()  # never keep tokens as cache keys
        known = self._cache.get(key)
        if known is None:
            known = await self._review(token)
            self._cache.put(key, known)
        if isinstance(known, str):
            raise ApiError(401, known)
        return known

    async def _review(self, token: str) -> Caller | str:
        review = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        try:
            answer = await self.kube.create(TOKEN_REVIEWS, review)
        except _kube.KubeError as exc:
            raise ApiError(503, f"cannot review the token with the cluster: {exc.reason}") from exc
        status = answer.get("status") or {}
        user = status.get("user") or {}
        if not status.get("authenticated") or not user.get("username"):
            return "the token was not accepted by the cluster (TokenReview)"
        extra = tuple(sorted((k, tuple(v)) for k, v in (user.get("extra") or {}).items()))
        return Caller(
            str(user["username"]),
            tuple(user.get("groups") or ()),
            str(user.get("uid") or ""),
            extra,
        )


@dataclass
class Authorizer:
    """Asks SubjectAccessReview; answers cached for `ttl` seconds (bounded)."""

    kube: _kube.Kube
    ttl: float = 10.0
    _cache: TtlCache[bool] = field(init=False)

    def __post_init__(self) -> None:
        self._cache = TtlCache(self.ttl)

    async def allowed(self, caller: Caller, access: Access) -> bool:
        if caller.admin:
            return True
        key = (caller, access)
        known = self._cache.get(key)
        if known is None:
            known = await self._review(caller, access)
            self._cache.put(key, known)
        return known

    def cached(self, caller: Caller, access: Access) -> bool | None:
        """The answer without asking: True for the admin, the cached one, else None."""
        return True if caller.admin else self._cache.get((caller, access))

    async def require(self, caller: Caller, access: Access) -> None:
        if not await self.allowed(caller, access):
            raise ApiError(403, f'User "{caller.username}" {access.describe()}')

    async def _review(self, caller: Caller, access: Access) -> bool:
        attrs: dict[str, Any] = {
            "verb": access.verb,
            "group": access.group,
            "resource": access.resource,
        }
        for key, value in (
            ("namespace", access.namespace),
            ("name", access.name),
            ("subresource", access.subresource),
        ):
            if value:
                attrs[key] = value
        spec: dict[str, Any] = {
            "user": caller.username,
            "groups": list(caller.groups),
            "resourceAttributes": attrs,
        }
        if caller.uid:
            spec["uid"] = caller.uid
        if caller.extra:
            spec["extra"] = {k: list(v) for k, v in caller.extra}
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }
        try:
            answer = await self.kube.create(ACCESS_REVIEWS, review)
        except _kube.KubeError as exc:
            raise ApiError(503, f"cannot review the access with the cluster: {exc.reason}") from exc
        return bool((answer.get("status") or {}).get("allowed"))
