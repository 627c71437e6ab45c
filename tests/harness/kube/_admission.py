"""The admission chain every write passes, in kube-apiserver's order.

Built-in mutating plugins (ServiceAccount, for pod creation) → mutating webhooks →
custom-resource schema (defaulting, pruning, validation) → built-in
validation → Pod Security → validating webhooks. Each step raises the `ApiError`
the real server would return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.harness.kube import _defaults, _podsecurity, _schema, _serviceaccounts, _webhooks

if TYPE_CHECKING:
    from tests.harness.kube._cluster import Cluster
    from tests.harness.kube._store import Obj
    from tests.harness.kube._types import ResourceType


class Admission:
    """Runs the admission steps for one cluster."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self.webhooks = _webhooks.Webhooks(cluster)

    async def admit(
        self,
        operation: str,
        rtype: ResourceType,
        obj: Obj,
        old: Obj | None,
        *,
        strict: bool = False,
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> Obj:
        """Return the admitted (possibly mutated) object or raise the rejection."""
        hooks = self.webhooks
        if operation == "CREATE" and (rtype.group, rtype.kind) == ("", "Pod"):
            await _serviceaccounts.admit(self._cluster, obj)
        mutated = await hooks.run(
            operation, rtype, obj, old, mutating=True, dry_run=dry_run, subresource=subresource
        )
        assert mutated is not None
        obj = mutated
        if rtype.custom:
            obj = _schema.admit(rtype, obj, strict=strict, subresource=subresource)
        _defaults.validate(rtype, obj)
        if operation == "CREATE" and (rtype.group, rtype.kind) == ("", "Pod"):
            namespace = self._cluster.store.peek(
                ("", "namespaces"), "", obj["metadata"]["namespace"]
            )
            _podsecurity.enforce(namespace, obj)
        await hooks.run(
            operation, rtype, obj, old, mutating=False, dry_run=dry_run, subresource=subresource
        )
        return obj

    async def admit_delete(self, rtype: ResourceType, obj: Obj, *, dry_run: bool = False) -> None:
        """DELETE passes validating webhooks registered for it."""
        await self.webhooks.run("DELETE", rtype, None, obj, mutating=False, dry_run=dry_run)

    async def close(self) -> None:
        """Release what admission holds between requests (cached webhook clients)."""
        await self.webhooks.close()
