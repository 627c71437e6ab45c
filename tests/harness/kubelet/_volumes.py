"""Per-pod volume directories: emptyDir, ConfigMap, Secret, downward API and projected.

Every volume is a directory under the pod's work dir; ConfigMap/Secret/projected
sources are materialised from the API when the pod starts (keys → files, honouring
`items`), so a container reads what it would read from its mount. Projected volumes
take every source kind kube-apiserver's ServiceAccount admission injects
(`kube-api-access-*`: `serviceAccountToken` through the TokenRequest API, `configMap`
`kube-root-ca.crt`, `downwardAPI`) plus `secret`. A missing ConfigMap or Secret is
`MountError` (kubelet's `MountVolume.SetUp failed for volume "v" : configmap "x" not
found`) unless the source is `optional`, when the volume simply lacks its keys.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import kubernetes

Obj = dict[str, Any]


class MountError(Exception):
    """A volume that cannot be set up yet; the message is the kubelet's FailedMount text."""


def _write(directory: Path, data: dict[str, bytes], items: list[Obj] | None) -> None:
    chosen = {i["key"]: i.get("path", i["key"]) for i in items} if items else {k: k for k in data}
    for key, rel in chosen.items():
        if key in data:
            if rel.startswith("/") or ".." in Path(rel).parts:  # the API server refuses these
                raise MountError(f'invalid path "{rel}": must be relative, without ".."')
            target = directory / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data[key])


def _read(read: Any, kind: str, name: str, namespace: str, optional: bool) -> Any | None:
    """The object, None when it is missing and `optional`; MountError when required."""
    try:
        return read(name, namespace)
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise
        if optional:
            return None
        raise MountError(f'{kind} "{name}" not found') from exc


def _configmap(core: kubernetes.client.CoreV1Api, namespace: str, source: Obj) -> dict[str, bytes]:
    read = core.read_namespaced_config_map
    cm = _read(read, "configmap", source["name"], namespace, bool(source.get("optional")))
    if cm is None:
        return {}
    out = {k: v.encode() for k, v in (cm.data or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (cm.binary_data or {}).items()})
    return out


def _secret(
    core: kubernetes.client.CoreV1Api, namespace: str, name: str, optional: bool
) -> dict[str, bytes]:
    secret = _read(core.read_namespaced_secret, "secret", name, namespace, optional)
    if secret is None:
        return {}
    return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}


def _field(pod: Obj, path: str) -> str:
    """A downward API `fieldRef` as the kubelet writes it (labels as `k="v"` lines)."""
    meta = pod["metadata"]
    if path in ("metadata.labels", "metadata.annotations"):
        pairs = sorted((meta.get(path.split(".")[1]) or {}).items())
        return "\n".join(f'{k}="{v}"' for k, v in pairs)
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
    }
    return str(simple.get(path, ""))


def _downward(pod: Obj, items: list[Obj]) -> dict[str, bytes]:
    return {
        item["path"]: _field(pod, item.get("fieldRef", {}).get("fieldPath", "")).encode()
        for item in items
        if "fieldRef" in item
    }


def _token(core: kubernetes.client.CoreV1Api, pod: Obj, source: Obj) -> dict[str, bytes]:
    """A bound service-account token from the TokenRequest API (`serviceaccounts/token`)."""
    meta = pod["metadata"]
    account = pod["spec"].get("serviceAccountName") or "default"
    spec: Obj = {
        "audiences": [source["audience"]] if source.get("audience") else [],
        "expirationSeconds": source.get("expirationSeconds", 3607),
        "boundObjectRef": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta["name"],
            "uid": meta.get("uid", ""),
        },
    }
    try:
        response = core.create_namespaced_service_account_token(
            account, meta["namespace"], {"spec": spec}
        )
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise
        raise MountError(f'failed to fetch token: serviceaccounts "{account}" not found') from exc
    return {source.get("path", "token"): response.status.token.encode()}


def _projected(core: kubernetes.client.CoreV1Api, pod: Obj, source: Obj) -> tuple[Obj, Any]:
    """One projected source: (its data, its `items`)."""
    namespace = pod["metadata"]["namespace"]
    if "configMap" in source:
        return _configmap(core, namespace, source["configMap"]), source["configMap"].get("items")
    if "secret" in source:
        sec = source["secret"]
        return _secret(core, namespace, sec["name"], bool(sec.get("optional"))), sec.get("items")
    if "downwardAPI" in source:
        return _downward(pod, source["downwardAPI"].get("items", [])), None
    if "serviceAccountToken" in source:
        return _token(core, pod, source["serviceAccountToken"]), None
    return {}, None


def materialise(core: kubernetes.client.CoreV1Api, pod: Obj, volume: Obj, directory: Path) -> None:
    """Fill `directory` with the content of one pod volume; MountError if it cannot be
    yet (what is written before the failure is rewritten by the retry)."""
    directory.mkdir(parents=True, exist_ok=True)
    namespace = pod["metadata"]["namespace"]
    try:
        if "configMap" in volume:
            source = volume["configMap"]
            _write(directory, _configmap(core, namespace, source), source.get("items"))
        elif "secret" in volume:
            source = volume["secret"]
            data = _secret(core, namespace, source["secretName"], bool(source.get("optional")))
            _write(directory, data, source.get("items"))
        elif "downwardAPI" in volume:
            _write(directory, _downward(pod, volume["downwardAPI"].get("items", [])), None)
        elif "projected" in volume:
            for source in volume["projected"].get("sources", []):
                data, items = _projected(core, pod, source)
                _write(directory, data, items)
    except MountError as exc:
        raise MountError(f'MountVolume.SetUp failed for volume "{volume["name"]}" : {exc}') from exc
