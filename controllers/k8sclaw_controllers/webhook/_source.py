"""What the webhook reads from the cluster, behind one small interface.

`ClusterSource` reads ClawInstances, ClawPolicies and parent runs live through the API
server on every review (no cache), so a policy change acknowledged to its writer
applies to the very next run, with no restart and no window in which a stale copy
could be served. These are single-object GETs (O(1)) and the handlers issue them
concurrently, so the cost is one round trip. The one read that grows with the cluster,
counting an instance's active runs, is served by the watch-fed `RunIndex` when one is
attached and synced (see `_runs` for why that count stays exact), else by a live
LIST. Reads go through the controller manager's async REST client, the project's one
translation of Kubernetes errors. Tests of the HTTP layer may supply any other `Source`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.webhook._runs import RunIndex, is_active
from k8sclaw_protocol import AgentRun, ClawInstance, ClawPolicy, InstanceSpend, SkillPack, names


class SourceError(Exception):
    """The cluster could not be read; the review fails closed with this message."""


class Source(Protocol):
    """Cluster reads needed to judge an AgentRun."""

    async def instance(self, namespace: str, name: str) -> ClawInstance | None:
        """The ClawInstance, or None when it does not exist."""

    async def policy(self, namespace: str, name: str) -> ClawPolicy | None:
        """The ClawPolicy, or None when it does not exist."""

    async def active_runs(self, namespace: str, instance: str, exclude: str) -> int:
        """Pending or Running runs labelled with `instance`, other than `exclude`."""

    async def run_depth(self, namespace: str, name: str) -> int | None:
        """Spawn depth of run `name` (0 for a top-level run), None if it is gone."""

    async def instance_spends(self, namespace: str) -> list[InstanceSpend | None]:
        """`status.spend` of every ClawInstance of the namespace (its monthly budget)."""

    async def skill_packs(self, namespace: str, wanted: list[str]) -> set[str]:
        """Those of `wanted` that exist as SkillPacks in `namespace` or the system one."""

    def admitted(self, namespace: str, name: str, instance: str) -> None:
        """Note that a run was just admitted (counted as active before it is seen)."""


class ClusterSource:
    """`Source` reading live from the API server, counting runs from `runs` when synced."""

    def __init__(self, kube: _kube.Kube, runs: RunIndex | None = None) -> None:
        self._kube = kube
        self._runs = runs

    def admitted(self, namespace: str, name: str, instance: str) -> None:
        """Count the run in the index until its watch event arrives."""
        if self._runs is not None:
            self._runs.admitted(namespace, name, instance)

    async def _get(self, path: str, what: str) -> dict[str, Any] | None:
        try:
            return await self._kube.get(path)
        except _kube.NotFoundError:
            return None
        except (_kube.KubeError, OSError) as error:
            raise SourceError(f"could not read {what}: {error}") from error

    async def instance(self, namespace: str, name: str) -> ClawInstance | None:
        """The ClawInstance, or None."""
        body = await self._get(
            _kube.claw(namespace, ClawInstance.info.plural, name), f'ClawInstance "{name}"'
        )
        return ClawInstance.from_wire(body) if body else None

    async def policy(self, namespace: str, name: str) -> ClawPolicy | None:
        """The ClawPolicy, or None."""
        body = await self._get(
            _kube.claw(namespace, ClawPolicy.info.plural, name), f'ClawPolicy "{name}"'
        )
        return ClawPolicy.from_wire(body) if body else None

    async def active_runs(self, namespace: str, instance: str, exclude: str) -> int:
        """Count of non-terminal runs of the instance (index, else a live list)."""
        if self._runs is not None:
            count = self._runs.count(namespace, instance, exclude)
            if count is not None:
                return count
        path = _kube.claw(namespace, AgentRun.info.plural)
        try:
            items = await self._kube.items(
                path, label_selector=f"{names.LABEL_INSTANCE}={instance}"
            )
        except (_kube.KubeError, OSError) as error:
            raise SourceError(
                f'could not list AgentRuns of instance "{instance}": {error}'
            ) from error
        return sum(
            1
            for item in items
            if (item.get("metadata") or {}).get("name") != exclude and is_active(item)
        )

    async def instance_spends(self, namespace: str) -> list[InstanceSpend | None]:
        """Spend of every instance of the namespace: one LIST, made only when a namespace
        budget is set; a malformed `status.spend` counts as nothing spent."""
        try:
            items = await self._kube.items(_kube.claw(namespace, ClawInstance.info.plural))
        except (_kube.KubeError, OSError) as error:
            raise SourceError(f"could not list ClawInstances of {namespace}: {error}") from error
        spends: list[InstanceSpend | None] = []
        for item in items:
            raw = (item.get("status") or {}).get("spend")
            try:
                spends.append(InstanceSpend.model_validate(raw) if raw else None)
            except ValueError:
                spends.append(None)
        return spends

    async def skill_packs(self, namespace: str, wanted: list[str]) -> set[str]:
        """Existing SkillPacks among `wanted`: one GET per pack and namespace, concurrent."""
        spaces = list(dict.fromkeys((namespace, names.SYSTEM_NAMESPACE)))
        keys = [(ns, name) for name in dict.fromkeys(wanted) for ns in spaces]
        found = await asyncio.gather(
            *(
                self._get(_kube.claw(ns, SkillPack.info.plural, name), f'SkillPack "{name}"')
                for ns, name in keys
            )
        )
        return {name for (_, name), body in zip(keys, found, strict=True) if body is not None}

    async def run_depth(self, namespace: str, name: str) -> int | None:
        """Depth of an existing run from its spec.parent.spawnDepth."""
        body = await self._get(
            _kube.claw(namespace, AgentRun.info.plural, name), f'AgentRun "{name}"'
        )
        if body is None:
            return None
        parent = (body.get("spec") or {}).get("parent")
        depth = parent.get("spawnDepth") if isinstance(parent, dict) else 0
        return depth if isinstance(depth, int) else None
