"""Kubernetes Events on significant transitions, so `kubectl describe` tells the story.

Posting is fire-and-forget in the background: an Event must never delay or fail a
reconcile.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from k8sclaw_controllers.manager import _kube

log = logging.getLogger("k8sclaw.controller.events")
COMPONENT = "k8sclaw-controller"


def event_body(obj: dict[str, Any], kind_type: str, reason: str, message: str) -> dict[str, Any]:
    """A core/v1 Event about `obj` (a dict with apiVersion, kind and metadata)."""
    meta = obj.get("metadata", {})
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "generateName": f"{meta.get('name', 'k8sclaw')}.",
            "namespace": meta.get("namespace"),
        },
        "involvedObject": {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
        },
        "type": kind_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


async def post(
    kube: _kube.Kube, obj: dict[str, Any], reason: str, message: str, warning: bool = False
) -> None:
    """Post an Event; failures are logged, never raised."""
    body = event_body(obj, "Warning" if warning else "Normal", reason, message)
    try:
        await kube.create(_kube.core(body["metadata"]["namespace"], "events"), body)
    except (_kube.KubeError, OSError, TimeoutError) as exc:
        log.warning("could not post event %s for %s: %s", reason, body["involvedObject"], exc)
