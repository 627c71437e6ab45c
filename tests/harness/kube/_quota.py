"""Object-count ResourceQuotas (`count/<resource>[.<group>]`), as kube-apiserver's quota
admission enforces them on CREATE.

Only object counts are modelled (compute quotas need pod resource accounting the
emulator does not do). A create that would exceed a quota's `spec.hard` is refused with
kube-apiserver's 403 text, e.g. `jobs.batch "x" is forbidden: exceeded quota: q,
requested: count/jobs.batch=1, used: count/jobs.batch=1, limited: count/jobs.batch=1`,
so code under test can tell a quota refusal from other 403s the way it would on a
real cluster.
"""

from __future__ import annotations

from tests.harness.kube import _errors
from tests.harness.kube._store import Store
from tests.harness.kube._types import ResourceType

QUOTA_KEY = ("", "resourcequotas")


def _count_key(rtype: ResourceType) -> str:
    return f"count/{rtype.plural}.{rtype.group}" if rtype.group else f"count/{rtype.plural}"


def check(store: Store, rtype: ResourceType, namespace: str, name: str) -> None:
    """Raise 403 when creating one more `rtype` object in `namespace` exceeds a quota."""
    if not rtype.namespaced:
        return
    resource = _count_key(rtype)
    for quota in store.list_peek(QUOTA_KEY, namespace):
        hard = ((quota.get("spec") or {}).get("hard") or {}).get(resource)
        if hard is None:
            continue
        limit = int(str(hard))
        used = len(store.list_peek(rtype.key, namespace))
        if used + 1 > limit:
            why = (
                f"exceeded quota: {quota['metadata']['name']}, requested: {resource}=1, "
                f"used: {resource}={used}, limited: {resource}={limit}"
            )
            raise _errors.forbidden(rtype.group, rtype.plural, name, why)
