"""Bounded reads of the cluster for the doctor: every call carries its own short timeout.

Everything read here came from the cluster (names, images, messages written by whoever
can write there): it is cut to a few hundred bytes and stripped of control characters
before it becomes part of a finding.
"""

from __future__ import annotations

from typing import Any

from k8sclaw.kube import Kube, NotFoundError, resource_type
from k8sclaw.render._terminal import terminal_safe

MAX_SHOWN = 200  # bytes of cluster-supplied text in one finding


def shown(text: object, limit: int = MAX_SHOWN) -> str:
    """Cluster-supplied text made safe for one line: no controls, collapsed, capped."""
    one_line = " ".join(terminal_safe(str(text)).split())
    raw = one_line.encode("utf-8")
    if len(raw) <= limit:
        return one_line
    return raw[: limit - 3].decode("utf-8", "ignore") + "..."


class Reader:
    """GETs and LISTs through one `Kube`, each bounded by `timeout` seconds."""

    def __init__(self, kube: Kube, timeout: float) -> None:
        self.kube = kube
        self.timeout = timeout

    def request(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        """One call with the doctor's (connect, read) timeout."""
        return self.kube.request(
            method, path, what=what, timeout=(self.timeout, self.timeout), **kwargs
        )

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> Any:
        """One object as a dict, None when it does not exist."""
        rtype = resource_type(api_version, kind)
        try:
            return self.request(
                "GET", rtype.item(name, namespace), what=f"{kind} {name}", custom=rtype.custom
            )
        except NotFoundError:
            return None

    def list(
        self, api_version: str, kind: str, namespace: str | None, selector: str = ""
    ) -> list[dict[str, Any]]:
        """Objects of a kind (a label selector narrows them)."""
        rtype = resource_type(api_version, kind)
        query = [("labelSelector", selector)] if selector else []
        body = self.request(
            "GET", rtype.collection(namespace), what=rtype.plural, custom=rtype.custom, query=query
        )
        items: list[dict[str, Any]] = body.get("items") or []
        return items
