"""Names of the K8sClaw kinds as plain strings, for code that must not import pydantic.

The CLI builds its command groups and the fast read path addresses the API from this
table; `tests/cli/test_fast_read.py` checks it against `k8sclaw_protocol.KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from k8sclaw.kube._errors import NotFoundError

GROUP_VERSION = "k8sclaw.io/v1alpha1"


@dataclass(frozen=True)
class KindNames:
    """How one custom kind is spelled: kind, singular, plural, first short name."""

    kind: str
    singular: str
    plural: str
    short_name: str

    def collection(self, namespace: str | None) -> str:
        """REST path of the collection, in `namespace` or across all namespaces."""
        if namespace:
            return f"/apis/{GROUP_VERSION}/namespaces/{namespace}/{self.plural}"
        return f"/apis/{GROUP_VERSION}/{self.plural}"


CUSTOM_KINDS: dict[str, KindNames] = {
    k.kind: k
    for k in (
        KindNames("ClawPolicy", "clawpolicy", "clawpolicies", "cp"),
        KindNames("SkillPack", "skillpack", "skillpacks", "sp"),
        KindNames("ClawInstance", "clawinstance", "clawinstances", "ci"),
        KindNames("AgentRun", "agentrun", "agentruns", "ar"),
        KindNames("ClawSchedule", "clawschedule", "clawschedules", "cs"),
    )
}

_CLI_GROUPS = {
    "ClawInstance": "instances",
    "AgentRun": "runs",
    "ClawPolicy": "policies",
    "SkillPack": "skills",
}


def list_command(kind: str, plural: str) -> str:
    """The command that lists a kind (kubectl for kinds the CLI has no group for)."""
    group = _CLI_GROUPS.get(kind)
    return f"k8sclaw {group} list" if group else f"kubectl get {plural}"


def not_found(kind: str, singular: str, plural: str, name: str, namespace: str) -> NotFoundError:
    """The one NotFound message of `get NAME`, naming the kind, namespace and the fix."""
    return NotFoundError(
        f'{singular} "{name}" not found in namespace {namespace}',
        hint=f"list them with `{list_command(kind, plural)} -n {namespace}`",
    )
