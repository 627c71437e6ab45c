"""An in-memory `Source` for testing the webhook's HTTP layer without an API server.

End-to-end tests (test_e2e.py) use the real `ClusterSource` against the kube emulator;
this one lets the AdmissionReview handling be tested in isolation and fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from k8sclaw_controllers.webhook import SourceError
from k8sclaw_protocol import AgentRun, ClawInstance, ClawPolicy, InstanceSpend, names


@dataclass
class MemorySource:
    """Objects by (namespace, name); `broken` makes every read fail like an outage."""

    instances: dict[tuple[str, str], ClawInstance] = field(default_factory=dict)
    policies: dict[tuple[str, str], ClawPolicy] = field(default_factory=dict)
    runs: dict[tuple[str, str], AgentRun] = field(default_factory=dict)
    skillpacks: set[tuple[str, str]] = field(default_factory=set)
    broken: bool = False

    def _check(self) -> None:
        if self.broken:
            raise SourceError("could not read ClawInstance: connection refused")

    async def instance(self, namespace: str, name: str) -> ClawInstance | None:
        self._check()
        return self.instances.get((namespace, name))

    async def policy(self, namespace: str, name: str) -> ClawPolicy | None:
        self._check()
        return self.policies.get((namespace, name))

    async def active_runs(self, namespace: str, instance: str, exclude: str) -> int:
        self._check()
        return sum(
            1
            for (ns, name), run in self.runs.items()
            if ns == namespace
            and name != exclude
            and run.spec.instance_ref == instance
            and not run.is_terminal
        )

    async def run_depth(self, namespace: str, name: str) -> int | None:
        self._check()
        run = self.runs.get((namespace, name))
        if run is None:
            return None
        return run.spec.parent.spawn_depth if run.spec.parent else 0

    async def instance_spends(self, namespace: str) -> list[InstanceSpend | None]:
        self._check()
        return [
            i.status.spend if i.status else None
            for (ns, _), i in self.instances.items()
            if ns == namespace
        ]

    async def skill_packs(self, namespace: str, wanted: list[str]) -> set[str]:
        self._check()
        spaces = (namespace, names.SYSTEM_NAMESPACE)
        return {name for name in wanted if any((ns, name) in self.skillpacks for ns in spaces)}

    def admitted(self, namespace: str, name: str, instance: str) -> None:
        """Nothing to note: `runs` is the whole truth here."""
