"""Per-pod volume directories: emptyDir, ConfigMap, Secret and projected volumes.

Every volume is a directory under the pod's work dir; ConfigMap/Secret/projected
sources are materialised from the API when the pod starts (keys → files, honouring
`items`), so a container reads what it would read from its mount.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import kubernetes


def _write(directory: Path, data: dict[str, bytes], items: list[dict[str, Any]] | None) -> None:
    chosen = {i["key"]: i.get("path", i["key"]) for i in items} if items else {k: k for k in data}
    for key, rel in chosen.items():
        if key in data:
            target = directory / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data[key])


def _configmap(core: kubernetes.client.CoreV1Api, namespace: str, name: str) -> dict[str, bytes]:
    cm = core.read_namespaced_config_map(name, namespace)
    out = {k: v.encode() for k, v in (cm.data or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (cm.binary_data or {}).items()})
    return out


def _secret(core: kubernetes.client.CoreV1Api, namespace: str, name: str) -> dict[str, bytes]:
    secret = core.read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}


def materialise(
    core: kubernetes.client.CoreV1Api, namespace: str, volume: dict[str, Any], directory: Path
) -> None:
    """Fill `directory` with the content of one pod volume."""
    directory.mkdir(parents=True, exist_ok=True)
    if "configMap" in volume:
        source = volume["configMap"]
        _write(directory, _configmap(core, namespace, source["name"]), source.get("items"))
    elif "secret" in volume:
        source = volume["secret"]
        _write(directory, _secret(core, namespace, source["secretName"]), source.get("items"))
    elif "projected" in volume:
        for source in volume["projected"].get("sources", []):
            if "configMap" in source:
                cm = source["configMap"]
                _write(directory, _configmap(core, namespace, cm["name"]), cm.get("items"))
            elif "secret" in source:
                sec = source["secret"]
                _write(directory, _secret(core, namespace, sec["name"]), sec.get("items"))
