"""Waiting on the API server by watching, never by sleeping: CRDs Established,
Deployments Available, objects gone. Each wait ends at a deadline with a clear error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from k8sclaw.kube import Kube, KubeError, iter_lines, resource_type


class WaitTimeoutError(KubeError):
    """A wait ran past its deadline."""

    exit_code = 10


def _condition(obj: dict[str, Any], kind: str) -> bool:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            return bool(cond.get("status") == "True")
    return False


def established(obj: dict[str, Any] | None) -> bool:
    """A CRD the API server serves."""
    return obj is not None and _condition(obj, "Established")


def available(obj: dict[str, Any] | None) -> bool:
    """A Deployment or StatefulSet whose current generation is fully rolled out.

    The same test as `kubectl rollout status`: the controller must have observed this
    generation (otherwise an Available=True left over from the previous version would end
    the wait during an upgrade), every replica is updated, no old replica is left, and the
    updated ones are available (ready, for a StatefulSet).
    """
    if obj is None:
        return False
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return False
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if obj.get("kind") == "StatefulSet":
        ready = status.get("readyReplicas", 0)
        return bool(updated >= wanted and ready >= wanted)
    if status.get("replicas", 0) > updated:
        return False  # old replicas still terminating
    ok = updated >= wanted and status.get("availableReplicas", 0) >= updated
    return bool(ok and _condition(obj, "Available"))


def gone(obj: dict[str, Any] | None) -> bool:
    """An object that no longer exists."""
    return obj is None


def wait_for(
    kube: Kube,
    obj: dict[str, Any],
    done: Callable[[dict[str, Any] | None], bool],
    *,
    timeout: float,
    what: str,
) -> None:
    """Watch one object until `done(obj)` (obj None = deleted) or the deadline passes."""
    api_version, kind, meta = obj["apiVersion"], obj["kind"], obj["metadata"]
    name, namespace = meta["name"], meta.get("namespace")
    rtype = resource_type(api_version, kind)
    deadline = time.monotonic() + timeout
    only_it = ("fieldSelector", f"metadata.name={name}")
    while True:
        listing = kube.request(
            "GET",
            rtype.collection(namespace),
            what=rtype.plural,
            custom=rtype.custom,
            query=[only_it],
        )
        items = listing.get("items") or []
        current = items[0] if items else None
        if done(current):
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeoutError(
                f"timed out after {timeout:.0f}s waiting for {kind.lower()}/{name} to be {what}",
                hint="check it with kubectl describe, or re-run with a larger --timeout",
            )
        # From the list's version: a change between the LIST and the WATCH is not missed
        # (without one, a deletion in that gap left the wait blind until its timeout).
        query = [
            ("watch", "true"),
            only_it,
            ("resourceVersion", str((listing.get("metadata") or {}).get("resourceVersion", ""))),
            ("timeoutSeconds", str(max(1, int(remaining)))),
        ]
        if _watch_until(kube, rtype.collection(namespace), rtype.plural, query, done):
            return


def _watch_until(
    kube: Kube,
    path: str,
    plural: str,
    query: list[tuple[str, str]],
    done: Callable[[dict[str, Any] | None], bool],
) -> bool:
    """One watch: True as soon as `done`, False when the server ended the stream first.

    A watch left before its end is closed, never handed back to the connection pool: its
    connection still carries the rest of the stream (kube-apiserver keeps it open until
    `timeoutSeconds`), so the next request on it would read watch events or wait."""
    resp = kube.request("GET", path, what=plural, query=query, stream=True)
    finished = False
    try:
        for line in iter_lines(resp):
            event = json.loads(line)
            gone_now = event.get("type") == "DELETED"
            if done(None if gone_now else event.get("object")):
                return True
        finished = True
        return False
    finally:
        if not finished:
            resp.close()
        resp.release_conn()
