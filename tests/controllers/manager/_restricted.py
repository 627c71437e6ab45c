"""The "restricted" Pod Security Standard (v1.32) as a checklist, for unit tests of pod specs.

Integration tests check the same thing against the real admission plugin (a namespace
labelled pod-security.kubernetes.io/enforce=restricted); this keeps the unit tests fast.
"""

from __future__ import annotations

from typing import Any

ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def violations(pod_spec: dict[str, Any]) -> list[str]:
    """Every rule of the restricted profile the pod spec breaks (empty when it passes)."""
    found: list[str] = []
    pod_sc = pod_spec.get("securityContext") or {}
    if pod_spec.get("hostNetwork") or pod_spec.get("hostPID") or pod_spec.get("hostIPC"):
        found.append("host namespaces")
    for volume in pod_spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            found.append(f"volume {volume['name']} uses {kinds - ALLOWED_VOLUMES}")
    if pod_sc.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    for container in pod_spec.get("containers", []) + pod_spec.get("initContainers", []):
        found += _container(container, pod_sc)
    return found


def _container(container: dict[str, Any], pod_sc: dict[str, Any]) -> list[str]:
    name = container["name"]
    sc = container.get("securityContext") or {}
    found = []
    if sc.get("privileged"):
        found.append(f"{name}: privileged")
    if sc.get("allowPrivilegeEscalation") is not False:
        found.append(f"{name}: allowPrivilegeEscalation must be false")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        found.append(f"{name}: capabilities.drop must include ALL")
    if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
        found.append(f"{name}: adds capabilities")
    if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
        found.append(f"{name}: runAsNonRoot must be true")
    if sc.get("runAsUser") == 0:
        found.append(f"{name}: runAsUser 0")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        found.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
    if any(p.get("hostPort") for p in container.get("ports", [])):
        found.append(f"{name}: hostPort")
    return found
