"""TokenReview and SubjectAccessReview answers are cached briefly, keyed safely: a run of
requests with one ServiceAccount token costs the cluster one review of each kind, a
rejected token is not re-reviewed on every try, tokens are kept only as hashes, and an
answer for one identity or one set of attributes never answers another. The cluster is
the emulator or a real one; only the client is counted."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from k8sclaw_controllers.apiserver._auth import (
    ACCESS_REVIEWS,
    TOKEN_REVIEWS,
    Access,
    Authenticator,
    Authorizer,
    Caller,
)
from k8sclaw_controllers.apiserver._errors import ApiError
from k8sclaw_controllers.manager import _kube
from tests.harness.kube import KubeEnv
from tests.harness.rbac_users import claw_rules, grant, make_user


class CountingKube(_kube.Kube):
    """The real client, counting what it creates (the review calls)."""

    calls: Counter[str]

    async def create(self, path: str, body: Any, *, read: bool = True) -> Any:
        self.calls[path] += 1
        return await super().create(path, body, read=read)


async def test_one_review_of_each_kind_serves_many_requests(kube: KubeEnv) -> None:
    user = make_user(kube.api_client, kube.namespace, "cached")
    grant(kube.api_client, kube.namespace, user, claw_rules("list"))
    config = _kube.load_configuration(str(kube.kubeconfig))
    client = CountingKube.connect(config)
    client.calls = Counter()
    try:
        authn = Authenticator(client, lambda: None, ttl=60)
        authz = Authorizer(client, ttl=60)
        access = Access("list", "agentruns", kube.namespace)
        for _ in range(20):
            caller = await authn.authenticate(f"Bearer {user.token}")
            assert caller.username == user.username
            assert await authz.allowed(caller, access)
        assert client.calls == Counter({TOKEN_REVIEWS: 1, ACCESS_REVIEWS: 1})
        # other attributes, or the same name with other groups: asked, never reused
        assert not await authz.allowed(caller, Access("delete", "agentruns", kube.namespace))
        other = Caller(caller.username, (*caller.groups, "system:masters"), caller.uid)
        await authz.allowed(other, access)
        assert client.calls[ACCESS_REVIEWS] == 3
        # a rejected token: reviewed once, then refused from the cache
        for _ in range(5):
            with pytest.raises(ApiError) as refused:
                await authn.authenticate("Bearer not-a-token-anyone-issued")
            assert refused.value.code == 401
        assert client.calls[TOKEN_REVIEWS] == 2
        # the cache holds digests, never the tokens themselves
        keys = list(authn._cache._items)
        assert all(isinstance(k, bytes) and len(k) == 32 for k in keys)
        assert not any(user.token.encode() in k for k in keys)
    finally:
        await client.close()
