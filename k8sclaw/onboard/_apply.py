"""Write the planned objects: server-side apply, so re-running onboarding updates in place
(a channel removed from the answers disappears from the instance, keys are replaced)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k8sclaw.installer import apply_object, object_ref
from k8sclaw.kube import Kube
from k8sclaw_protocol import ClawInstance


def check_cluster(kube: Kube, namespace: str) -> int:
    """Step 1: the API answers and the CRDs exist; returns the instances already there.

    Missing CRDs raise `CRDsMissingError`, whose hint already names `k8sclaw install`.
    """
    return len(kube.list(ClawInstance, namespace))


def apply(kube: Kube, objects: list[dict[str, Any]], say: Callable[[str], None]) -> None:
    """Apply each object and say what happened (never the data)."""
    for obj in objects:
        action = apply_object(kube, obj)
        if obj["kind"] == ClawInstance.info.kind and _drop_unset(kube, obj):
            action = "configured"
        say(f"  {action}: {object_ref(obj)}")


def _drop_unset(kube: Kube, obj: dict[str, Any]) -> bool:
    """Remove optional fields an earlier run set and this one does not (merge patch null).

    Server-side apply already drops fields only we owned; this also covers fields
    another writer touched since, so the instance ends up exactly as answered.
    """
    meta, spec = obj["metadata"], obj["spec"]
    current = kube.get_raw(obj["apiVersion"], obj["kind"], meta["name"], meta["namespace"])
    stale = {k: None for k in ("policyRef",) if k not in spec and k in current["spec"]}
    current_default = current["spec"].get("agents", {}).get("default", {})
    if "baseURL" in current_default and "baseURL" not in spec["agents"]["default"]:
        stale["agents"] = {"default": {"baseURL": None}}  # type: ignore[assignment]
    if not stale:
        return False
    kube.patch_raw(obj["apiVersion"], obj["kind"], meta["name"], meta["namespace"], {"spec": stale})
    return True
