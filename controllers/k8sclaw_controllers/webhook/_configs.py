"""Validating and MutatingWebhookConfigurations: built here, registered in dev mode.

The installer ships the same shapes (service k8sclaw-webhook in k8sclaw-system, port
443); dev mode registers them with a URL; in-cluster mode patches its caBundle in.
`failurePolicy: Fail` everywhere: a policy that can be bypassed is no policy.
The matchCondition skips objects being deleted at the API server itself, so removing
a finalizer works even while the webhook is down.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable
from typing import Any

from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import AgentRun, ClawInstance, ClawPolicy, SkillPack, names

Body = dict[str, Any]
ClientConfig = Callable[[str], Body]
API = "/apis/admissionregistration.k8s.io/v1"
VALIDATING = "validatingwebhookconfigurations"
MUTATING = "mutatingwebhookconfigurations"
NOT_DELETING = {
    "name": "not-being-deleted",
    "expression": "!has(object.metadata.deletionTimestamp)",
}


def url_client(base_url: str) -> ClientConfig:
    """clientConfig pointing at `base_url` + path (dev mode)."""
    return lambda path: {"url": base_url.rstrip("/") + path}


def service_client(
    namespace: str = names.SYSTEM_NAMESPACE, service: str = names.WEBHOOK_SERVICE, port: int = 443
) -> ClientConfig:
    """clientConfig pointing at the webhook Service (in-cluster)."""
    return lambda path: {
        "service": {"namespace": namespace, "name": service, "path": path, "port": port}
    }


def _webhook(
    name: str,
    plural: str,
    path: str,
    client: ClientConfig,
    ca: bytes,
    *,
    operations: tuple[str, ...] = ("CREATE", "UPDATE"),
) -> Body:
    return {
        "name": f"{plural}.{name}.{names.GROUP}",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "failurePolicy": "Fail",
        "timeoutSeconds": 5,
        "matchPolicy": "Equivalent",
        "matchConditions": [NOT_DELETING],
        "clientConfig": {**client(path), "caBundle": base64.b64encode(ca).decode()},
        "rules": [
            {
                "apiGroups": [names.GROUP],
                "apiVersions": [names.API_VERSION],
                "operations": list(operations),
                "resources": [plural],
                "scope": "Namespaced",
            }
        ],
    }


def configurations(
    client: ClientConfig, ca_bundle: bytes, name: str = names.WEBHOOK_CONFIGURATION
) -> tuple[Body, Body]:
    """The (validating, mutating) configurations, both named `name`."""
    meta = {"name": name, "labels": {names.LABEL_PART_OF: names.MANAGED_BY}}
    validating = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": meta,
        "webhooks": [
            _webhook(
                "validate",
                AgentRun.info.plural,
                names.WEBHOOK_PATH_VALIDATE_AGENTRUN,
                client,
                ca_bundle,
            ),
            _webhook(
                "validate",
                ClawPolicy.info.plural,
                names.WEBHOOK_PATH_VALIDATE_POLICY,
                client,
                ca_bundle,
            ),
            _webhook(
                "validate",
                SkillPack.info.plural,
                names.WEBHOOK_PATH_VALIDATE_SKILLPACK,
                client,
                ca_bundle,
            ),
            # CREATE only: a name never changes, and the controller's own instance
            # updates must not depend on the webhook being up.
            _webhook(
                "validate",
                ClawInstance.info.plural,
                names.WEBHOOK_PATH_VALIDATE_INSTANCE,
                client,
                ca_bundle,
                operations=("CREATE",),
            ),
        ],
    }
    mutating_hook = _webhook(
        "mutate", AgentRun.info.plural, names.WEBHOOK_PATH_MUTATE_AGENTRUN, client, ca_bundle
    )
    mutating = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": dict(meta),
        "webhooks": [{**mutating_hook, "reinvocationPolicy": "Never"}],
    }
    return validating, mutating


def _path(body: Body) -> str:
    plural = VALIDATING if body["kind"].startswith("Validating") else MUTATING
    return f"{API}/{plural}"


async def register(kube: _kube.Kube, bodies: tuple[Body, ...]) -> None:
    """Create the configurations, or replace them when they already exist."""
    for body in bodies:
        try:
            await kube.create(_path(body), body)
        except _kube.ConflictError:
            await kube.patch(f"{_path(body)}/{body['metadata']['name']}", body)


async def unregister(kube: _kube.Kube, bodies: tuple[Body, ...]) -> None:
    """Delete the configurations; already gone is fine."""
    for body in bodies:
        with contextlib.suppress(_kube.NotFoundError):
            await kube.delete(f"{_path(body)}/{body['metadata']['name']}")


async def taken_over(kube: _kube.Kube, bodies: tuple[Body, ...]) -> tuple[Body, ...]:
    """The configurations of these names that exist before dev mode registers its own
    (the installed ones, under `--name k8sclaw-webhook`), to give back on exit."""
    found = []
    for body in bodies:
        with contextlib.suppress(_kube.NotFoundError):
            found.append(await kube.get(f"{_path(body)}/{body['metadata']['name']}"))
    return tuple(found)


async def give_back(kube: _kube.Kube, bodies: tuple[Body, ...], saved: tuple[Body, ...]) -> None:
    """On exit: the taken-over configurations get their webhooks back (one merge patch
    each, so they never lapse); the ones dev mode created are deleted."""
    restored = {(_path(b), b["metadata"]["name"]) for b in saved}
    await unregister(
        kube, tuple(b for b in bodies if (_path(b), b["metadata"]["name"]) not in restored)
    )
    for body in saved:
        with contextlib.suppress(_kube.NotFoundError):
            path = f"{_path(body)}/{body['metadata']['name']}"
            await kube.patch(path, {"webhooks": body.get("webhooks") or []}, read=False)


async def patch_ca_bundle(
    kube: _kube.Kube, ca_bundle: bytes, name: str = names.WEBHOOK_CONFIGURATION
) -> int:
    """Write `ca_bundle` into every webhook of both configurations named `name`.

    Returns how many configurations were patched (0 when the installer has not
    applied them yet; the rotation loop tries again).
    """
    encoded = base64.b64encode(ca_bundle).decode()
    patched = 0
    for plural in (VALIDATING, MUTATING):
        path = f"{API}/{plural}/{name}"
        try:
            current = await kube.get(path)
        except _kube.NotFoundError:
            continue
        hooks = current.get("webhooks") or []
        if all((hook.get("clientConfig") or {}).get("caBundle") == encoded for hook in hooks):
            patched += 1
            continue
        for hook in hooks:
            hook.setdefault("clientConfig", {})["caBundle"] = encoded
        version = current["metadata"]["resourceVersion"]
        await kube.patch(path, {"metadata": {"resourceVersion": version}, "webhooks": hooks})
        patched += 1
    return patched
