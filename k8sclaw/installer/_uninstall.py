"""`k8sclaw uninstall`: remove everything `install` and `onboard` created (onboarded
namespaces stay, without their RoleBinding and tenant label), leaving nothing
stuck Terminating.

Order matters (upstream hung here): stop the controller so it cannot re-add finalizers,
drop the webhook configurations so a dead webhook cannot block the finalizer patches,
strip finalizers and delete every custom resource in every namespace, then the control
plane, the CRDs and the namespace — waiting for each to be gone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from k8sclaw.installer import _bundle, _wait
from k8sclaw.kube import CRDsMissingError, Kube, NotFoundError
from k8sclaw_protocol import KINDS, names

Say = Callable[[str], None]
_CLUSTER_KINDS_LAST = ("CustomResourceDefinition", "Namespace")


def uninstall(kube: Kube, *, keep_crds: bool, timeout: float, say: Say) -> None:
    """Remove K8sClaw from the cluster; safe to run again on a clean cluster."""
    _scale_controller_to_zero(kube, say)
    steps = _bundle.load_bundle(names.VERSION, "default")
    objects = [o for s in steps for o in s.objects if s.name not in _bundle.USER_NAMESPACE_STEPS]
    for obj in objects:
        if obj["kind"].endswith("WebhookConfiguration"):
            _delete(kube, obj, say)
    _delete_custom_resources(kube, say, timeout=timeout)
    _delete_onboarded_secrets(kube, say)
    _revoke_tenant_access(kube, say)
    for obj in reversed(objects):
        if obj["kind"] not in _CLUSTER_KINDS_LAST and not obj["kind"].endswith(
            "WebhookConfiguration"
        ):
            _delete(kube, obj, say)
    last = [o for o in objects if o["kind"] in _CLUSTER_KINDS_LAST]
    if keep_crds:
        last = [o for o in last if o["kind"] != "CustomResourceDefinition"]
    for obj in last:
        if _delete(kube, obj, say):
            _wait.wait_for(kube, obj, _wait.gone, timeout=timeout, what="deleted")


def _scale_controller_to_zero(kube: Kube, say: Say) -> None:
    try:
        kube.patch_raw(
            "apps/v1",
            "Deployment",
            "k8sclaw-controller",
            names.SYSTEM_NAMESPACE,
            {"spec": {"replicas": 0}},
        )
    except NotFoundError:
        return
    say("scaled deployment/k8sclaw-controller to 0")


def _delete(kube: Kube, obj: dict[str, Any], say: Say) -> bool:
    meta = obj["metadata"]
    found = kube.delete_raw(
        obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"), missing_ok=True
    )
    if found:
        say(f"deleted {_bundle.object_ref(obj)}")
    return found


def _delete_custom_resources(kube: Kube, say: Say, *, timeout: float) -> None:
    """Strip finalizers and delete every K8sClaw object in every namespace."""
    for kind in reversed(KINDS):
        try:
            items = kube.list_raw(names.GROUP_VERSION, kind.info.kind, None)
        except CRDsMissingError:
            continue
        for item in items:
            meta = item["metadata"]
            if meta.get("finalizers"):
                _strip_finalizers(kube, kind.info.kind, meta)
            body = {"apiVersion": names.GROUP_VERSION, "kind": kind.info.kind, "metadata": meta}
            if _delete(kube, body, say):
                _wait.wait_for(kube, body, _wait.gone, timeout=timeout, what="deleted")


def _strip_finalizers(kube: Kube, kind: str, meta: dict[str, Any]) -> None:
    try:
        kube.patch_raw(
            names.GROUP_VERSION,
            kind,
            meta["name"],
            meta["namespace"],
            {"metadata": {"finalizers": None}},
        )
    except NotFoundError:
        return


def _delete_onboarded_secrets(kube: Kube, say: Say) -> None:
    """Secrets `k8sclaw onboard` wrote (labelled managed-by k8sclaw), in every namespace."""
    selector = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
    for item in kube.list_raw("v1", "Secret", None, selector):
        _delete(kube, {"apiVersion": "v1", "kind": "Secret", "metadata": item["metadata"]}, say)


def _revoke_tenant_access(kube: Kube, say: Say) -> None:
    """Undo what onboarding did to namespaces: the controller's RoleBindings and the
    tenant label (the namespaces themselves stay: they hold the user's own objects)."""
    rbac = "rbac.authorization.k8s.io/v1"
    selector = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
    for item in kube.list_raw(rbac, "RoleBinding", None, selector):
        if (item.get("roleRef") or {}).get("name") == names.CONTROLLER_TENANT_ROLE:
            _delete(
                kube, {"apiVersion": rbac, "kind": "RoleBinding", "metadata": item["metadata"]}, say
            )
    tenants = f"{names.LABEL_TENANT}={names.TENANT_LABEL_VALUE}"
    for item in kube.list_raw("v1", "Namespace", None, tenants):
        name = item["metadata"]["name"]
        with contextlib.suppress(NotFoundError):
            kube.patch_raw(
                "v1", "Namespace", name, None, {"metadata": {"labels": {names.LABEL_TENANT: None}}}
            )
            say(f"unlabelled namespace/{name} ({names.LABEL_TENANT})")
