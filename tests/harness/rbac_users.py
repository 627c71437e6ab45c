"""Test users made of ServiceAccounts, bound with RBAC, holding TokenRequest tokens.

The same calls work on the kube emulator and on a real kube-apiserver, so tests that
check who may see what never depend on emulator-only shortcuts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kubernetes


@dataclass(frozen=True)
class User:
    namespace: str
    name: str
    token: str

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


def configuration_as(
    admin: kubernetes.client.Configuration, user: User
) -> kubernetes.client.Configuration:
    """A client configuration holding only `user`'s token, with the admin's address and
    trust (no client certificate, no other credentials)."""
    config = kubernetes.client.Configuration()
    config.host, config.ssl_ca_cert, config.verify_ssl = (
        admin.host,
        admin.ssl_ca_cert,
        admin.verify_ssl,
    )
    config.api_key = {"authorization": f"Bearer {user.token}"}
    return config


def make_user(client: kubernetes.client.ApiClient, namespace: str, name: str) -> User:
    """A ServiceAccount `name` in `namespace` and a one-hour token for it."""
    core = kubernetes.client.CoreV1Api(client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    request = {"spec": {"expirationSeconds": 3600}}
    reply = core.create_namespaced_service_account_token(name, namespace, request)
    return User(namespace, name, reply.status.token)


def grant(
    client: kubernetes.client.ApiClient,
    namespace: str,
    user: User,
    rules: list[dict[str, Any]],
    name: str | None = None,
) -> None:
    """A Role with `rules` in `namespace`, bound to `user`."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(client)
    role = name or f"{user.name}-role"
    rbac.create_namespaced_role(namespace, {"metadata": {"name": role}, "rules": rules})
    bind(client, namespace, user, "Role", role)


def bind(
    client: kubernetes.client.ApiClient, namespace: str, user: User, kind: str, role: str
) -> None:
    """A RoleBinding in `namespace` of `user` to the Role or ClusterRole `role`."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(client)
    binding = {
        "metadata": {"name": f"{user.name}-{role}"[:63]},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": user.name, "namespace": user.namespace}],
    }
    rbac.create_namespaced_role_binding(namespace, binding)


def claw_rules(*verbs: str, resources: tuple[str, ...] = ("*",)) -> list[dict[str, Any]]:
    """Rules on the k8sclaw.io kinds."""
    return [{"apiGroups": ["k8sclaw.io"], "resources": list(resources), "verbs": list(verbs)}]
