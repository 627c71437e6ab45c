"""Write the planned objects: server-side apply, so re-running onboarding updates in place
(a channel removed from the answers disappears from the instance, keys are replaced)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k8sclaw.installer import apply_object, object_ref
from k8sclaw.kube import INSTALL_HINT, CRDsMissingError, Kube
from k8sclaw_protocol import ClawInstance


def check_cluster(kube: Kube, namespace: str) -> int:
    """Step 1: the API answers and the CRDs exist; returns the instances already there."""
    try:
        return len(kube.list(ClawInstance, namespace))
    except CRDsMissingError as exc:
        raise CRDsMissingError(str(exc), hint=INSTALL_HINT) from exc


def apply(kube: Kube, objects: list[dict[str, Any]], say: Callable[[str], None]) -> None:
    """Apply each object and say what happened (never the data)."""
    for obj in objects:
        say(f"  {apply_object(kube, obj)}: {object_ref(obj)}")
