"""kube-apiserver's ServiceAccount admission plugin, for pod creation.

A pod names a ServiceAccount (`default` unless set) that must exist: otherwise the
create is refused with 403 `error looking up service account <ns>/<name>: serviceaccount
"<name>" not found` (the `default` one is waited for a moment first, as the plugin
retries it: kube-controller-manager creates it a moment after the namespace). Unless
`automountServiceAccountToken` is false (on the pod, else on the account), the plugin
adds the `kube-api-access-<suffix>` projected volume (a bound token, `kube-root-ca.crt`,
the namespace through the downward API) and mounts it read-only at
`/var/run/secrets/kubernetes.io/serviceaccount` in every container that does not mount
that path already: the process kubelet has to materialise it as a kubelet does.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING

from tests.harness.kube import _errors

if TYPE_CHECKING:
    from tests.harness.kube._cluster import Cluster
    from tests.harness.kube._store import Obj

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_ATTEMPTS, DEFAULT_INTERVAL = 10, 0.15
_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"


def _volume(name: str) -> Obj:
    namespace_ref = {"apiVersion": "v1", "fieldPath": "metadata.namespace"}
    return {
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": namespace_ref}]}},
            ],
        },
    }


async def _account(cluster: Cluster, namespace: str, name: str) -> Obj | None:
    attempts = DEFAULT_ATTEMPTS if name == "default" else 1
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(DEFAULT_INTERVAL)
        found = cluster.store.peek(("", "serviceaccounts"), namespace, name)
        if found is not None:
            return found
    return None


async def admit(cluster: Cluster, pod: Obj) -> None:
    """Check the pod's ServiceAccount and mount its token volume, in place."""
    meta, spec = pod["metadata"], pod.setdefault("spec", {})
    name = spec.get("serviceAccountName") or "default"
    account = await _account(cluster, meta["namespace"], name)
    if account is None:
        why = (
            f"error looking up service account {meta['namespace']}/{name}: "
            f'serviceaccount "{name}" not found'
        )
        raise _errors.forbidden("", "pods", meta.get("name", ""), why)
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = account.get("automountServiceAccountToken")
    containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
    needing = [
        c
        for c in containers
        if not any(m.get("mountPath") == MOUNT_PATH for m in c.get("volumeMounts") or [])
    ]
    if automount is False or not needing:
        return
    volume = "kube-api-access-" + "".join(secrets.choice(_SUFFIX) for _ in range(5))
    spec["volumes"] = [*(spec.get("volumes") or []), _volume(volume)]
    for container in needing:
        mount = {"name": volume, "readOnly": True, "mountPath": MOUNT_PATH}
        container["volumeMounts"] = [*(container.get("volumeMounts") or []), mount]
