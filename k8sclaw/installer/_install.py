"""`k8sclaw install`: server-side apply of the bundle, step by step, with waits.

Idempotent by construction (apply as field manager `k8sclaw`, forced): a second run
reports every object `unchanged`. Fields other managers own, such as the caBundle the
webhook writes into its configurations, are not in our manifests and stay untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from k8sclaw.installer import _bundle, _bussecrets, _wait
from k8sclaw.kube import Kube, KubeError, NotFoundError
from k8sclaw_protocol import names

Action = Literal["created", "configured", "unchanged"]
Report = Callable[[str, str, Action], None]  # (step, object ref, action)


class NewerVersionInstalledError(KubeError):
    """The cluster runs a newer K8sClaw than this CLI would install."""

    exit_code = 11


@dataclass
class InstallResult:
    """What `install` did, object by object."""

    actions: dict[str, Action] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        """Objects created or changed."""
        return sum(1 for a in self.actions.values() if a != "unchanged")


def installed_version(kube: Kube) -> str | None:
    """The version label of the control-plane namespace, None when not installed."""
    try:
        ns = kube.get_raw("v1", "Namespace", names.SYSTEM_NAMESPACE, None)
    except NotFoundError:
        return None
    label: str | None = ns["metadata"].get("labels", {}).get(_bundle.LABEL_VERSION)
    return label


def check_version(current: str | None, wanted: str, *, allow_downgrade: bool) -> None:
    """Refuse to silently downgrade a newer installation."""
    if current and _key(current) > _key(wanted) and not allow_downgrade:
        raise NewerVersionInstalledError(
            f"K8sClaw {current} is installed; this CLI installs {wanted}",
            hint=f"upgrade the CLI (K8SCLAW_VERSION={current} install.sh), "
            "or pass --allow-downgrade",
        )


def _key(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.lstrip("v").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def apply_object(kube: Kube, obj: dict[str, Any]) -> Action:
    """Server-side apply one object; say whether it was created, changed or unchanged.

    An object that already holds every field we would apply is left alone (like
    `kubectl diff`): no write, so no admission call, and re-installing works even while
    the webhook itself is down, which is when one re-installs.
    """
    meta = obj["metadata"]
    try:
        before = kube.get_raw(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
    except NotFoundError:
        before = None
    if before is not None and contains(before, obj):
        return "unchanged"
    after = kube.apply(obj)
    if before is None:
        return "created"
    return "unchanged" if _content(before) == _content(after) else "configured"


def contains(current: Any, desired: Any) -> bool:
    """True when `current` (as stored, with server defaults) already has every field of
    `desired`: dicts key by key, lists element by element, scalars equal."""
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(
            k in current and contains(current[k], v) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(current, list)
            and len(current) == len(desired)
            and all(contains(c, d) for c, d in zip(current, desired, strict=True))
        )
    return bool(current == desired)


_VOLATILE_META = frozenset({"resourceVersion", "generation", "managedFields"})


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    """What a user would call the object: everything but status and bookkeeping
    (a controller updating status between our calls is not a change we made)."""
    meta = {k: v for k, v in obj["metadata"].items() if k not in _VOLATILE_META}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def install(
    kube: Kube, steps: list[_bundle.Step], *, wait: bool, timeout: float, report: Report
) -> InstallResult:
    """Apply every step in order; wait for CRDs always and Deployments when `wait`."""
    result = InstallResult()
    workloads: list[dict[str, Any]] = []  # NATS and the control plane, rolled out together
    for step in _ordered(steps, wait=wait):
        if step.name == "nats" and step.objects:
            # Keys first: the server's config and the controller's signing seed.
            namespace = step.objects[0]["metadata"]["namespace"]
            for obj in _bussecrets.missing(kube, namespace):
                result.actions[_bundle.object_ref(obj)] = "created"
                kube.apply(obj)
                report(step.name, _bundle.object_ref(obj), "created")
        for obj in step.objects:
            ref = _bundle.object_ref(obj)
            result.actions[ref] = action = apply_object(kube, obj)
            report(step.name, ref, action)
            if obj["kind"] in ("Deployment", "StatefulSet"):
                workloads.append(obj)
        if step.name == "crds":
            for crd in step.objects:
                _wait.wait_for(kube, crd, _wait.established, timeout=timeout, what="Established")
        if step.name == "control plane" and wait:
            for obj in workloads:
                _wait.wait_for(kube, obj, _wait.available, timeout=timeout, what="rolled out")
    return result


def _ordered(steps: list[_bundle.Step], *, wait: bool) -> list[_bundle.Step]:
    """SPEC order; without waiting, our own presets go in before the webhook configurations
    so a webhook that is still starting cannot reject them (failurePolicy Fail)."""
    if wait:
        return steps
    late = [s for s in steps if s.name in _bundle.USER_NAMESPACE_STEPS]
    early = [s for s in steps if s.name not in _bundle.USER_NAMESPACE_STEPS]
    cut = next(i for i, s in enumerate(early) if s.name == "webhook configurations")
    return [*early[:cut], *late, *early[cut:]]
