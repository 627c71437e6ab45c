"""`install --database-url-secret NAME`: transcripts in PostgreSQL instead of SQLite.

The API server then reads `DATABASE_URL` from key `url` of that Secret (in the control
plane namespace, created by the user: the URL holds a password, so it never passes
through our manifests or command lines), runs two replicas with rolling updates (the
store is shared, so no single writer is needed), and the SQLite PVC is not installed.
"""

from __future__ import annotations

from typing import Any

from k8sclaw.installer._bundle import Step

APISERVER = "k8sclaw-apiserver"
DATA_CLAIM = "k8sclaw-apiserver-data"
SECRET_KEY = "url"
REPLICAS = 2


def use_database_secret(steps: list[Step], secret: str) -> None:
    """Rewrite the bundle in place for PostgreSQL at the URL in Secret `secret`."""
    for step in steps:
        step.objects = [o for o in step.objects if not _is(o, "PersistentVolumeClaim", DATA_CLAIM)]
        for obj in step.objects:
            if _is(obj, "Deployment", APISERVER):
                _to_postgres(obj, secret)


def _is(obj: dict[str, Any], kind: str, name: str) -> bool:
    return bool(obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name)


def _to_postgres(deployment: dict[str, Any], secret: str) -> None:
    spec = deployment["spec"]
    spec["replicas"] = REPLICAS
    spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}
    pod = spec["template"]["spec"]
    for volume in pod["volumes"]:
        if volume.get("persistentVolumeClaim", {}).get("claimName") == DATA_CLAIM:
            volume.pop("persistentVolumeClaim")
            volume["emptyDir"] = {}
    (container,) = pod["containers"]
    env = container.setdefault("env", [])
    env.append(
        {
            "name": "DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": secret, "key": SECRET_KEY}},
        }
    )
