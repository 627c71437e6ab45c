"""Pod Security admission for namespaces labelled `pod-security.kubernetes.io/enforce`.

Checks the `baseline` and `restricted` profiles on pod creation and reports violations
in kube-apiserver's words: `pods "x" is forbidden: violates PodSecurity
"restricted:latest": allowPrivilegeEscalation != false (container "c" must set ...)`.
Checks are ordered by their upstream check ID. Not modelled: audit/warn modes, workload
template warnings, exemptions, AppArmor, SELinux, procMount, sysctls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.harness.kube import _errors

Obj = dict[str, Any]
LEVELS = {"privileged": 0, "baseline": 1, "restricted": 2}
_BASELINE_CAPS = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}
_RESTRICTED_VOLUMES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)


def _who(names: list[str], pod_or: bool = False) -> str:
    noun = "container" if len(names) == 1 else "containers"
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"{'pod or ' if pod_or else ''}{noun} {quoted}"


def _containers(spec: Obj) -> list[Obj]:
    return [
        *spec.get("initContainers", []),
        *spec.get("containers", []),
        *spec.get("ephemeralContainers", []),
    ]


def _sc(container: Obj) -> Obj:
    return container.get("securityContext") or {}


def _report(title: str, parts: list[str]) -> str | None:
    """`title (part; part)`, or None when nothing was found."""
    return f"{title} ({'; '.join(parts)})" if parts else None


def _must(bad: list[str], text: str, pod_or: bool = False) -> list[str]:
    return [f"{_who(bad, pod_or)} {text}"] if bad else []


def _adds(container: Obj, allowed: set[str]) -> list[str]:
    caps = (_sc(container).get("capabilities") or {}).get("add") or []
    extra = ", ".join(f'"{cap}"' for cap in caps if cap not in allowed)
    if not extra:
        return []
    return [
        f'container "{container["name"]}" must not include {extra} '
        "in securityContext.capabilities.add"
    ]


def _allow_privilege_escalation(spec: Obj) -> str | None:
    bad = [
        c["name"] for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False
    ]
    return _report(
        "allowPrivilegeEscalation != false",
        _must(bad, "must set securityContext.allowPrivilegeEscalation=false"),
    )


def _capabilities_baseline(spec: Obj) -> str | None:
    parts = [p for c in _containers(spec) for p in _adds(c, _BASELINE_CAPS)]
    return _report("non-default capabilities", parts)


def _capabilities_restricted(spec: Obj) -> str | None:
    containers = _containers(spec)
    no_drop = [
        c["name"]
        for c in containers
        if "ALL" not in ((_sc(c).get("capabilities") or {}).get("drop") or [])
    ]
    parts = _must(no_drop, 'must set securityContext.capabilities.drop=["ALL"]')
    parts += [p for c in containers for p in _adds(c, {"NET_BIND_SERVICE"})]
    return _report("unrestricted capabilities", parts)


def _host_namespaces(spec: Obj) -> str | None:
    on = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    return f"host namespaces ({', '.join(on)})" if on else None


def _host_path_volumes(spec: Obj) -> str | None:
    bad = [f'"{v["name"]}"' for v in spec.get("volumes", []) if "hostPath" in v]
    noun = "volume" if len(bad) == 1 else "volumes"
    return f"hostPath volumes ({noun} {', '.join(bad)})" if bad else None


def _host_ports(spec: Obj) -> str | None:
    parts = []
    for c in _containers(spec):
        ports = [str(p["hostPort"]) for p in c.get("ports", []) if p.get("hostPort")]
        if ports:
            noun = "hostPort" if len(ports) == 1 else "hostPorts"
            parts.append(f'container "{c["name"]}" uses {noun} {", ".join(ports)}')
    return _report("hostPort", parts)


def _privileged(spec: Obj) -> str | None:
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("privileged")]
    return _report("privileged", _must(bad, "must not set securityContext.privileged=true"))


def _restricted_volumes(spec: Obj) -> str | None:
    parts = []
    for v in spec.get("volumes", []):
        kinds = [k for k in v if k != "name" and k not in _RESTRICTED_VOLUMES]
        if kinds:
            parts.append(f'volume "{v["name"]}" uses restricted volume type "{kinds[0]}"')
    return _report("restricted volume types", parts)


def _run_as_non_root(spec: Obj) -> str | None:
    pod_value = (spec.get("securityContext") or {}).get("runAsNonRoot")
    if pod_value is False:
        return "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)"
    bad = [
        c["name"]
        for c in _containers(spec)
        if _sc(c).get("runAsNonRoot") is False
        or (_sc(c).get("runAsNonRoot") is None and pod_value is not True)
    ]
    return _report(
        "runAsNonRoot != true",
        _must(bad, "must set securityContext.runAsNonRoot=true", pod_or=True),
    )


def _run_as_user(spec: Obj) -> str | None:
    if (spec.get("securityContext") or {}).get("runAsUser") == 0:
        return "runAsUser=0 (pod must not set runAsUser=0)"
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    return _report("runAsUser=0", _must(bad, "must not set runAsUser=0"))


def _seccomp_restricted(spec: Obj) -> str | None:
    pod_type = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    bad = [
        c["name"]
        for c in _containers(spec)
        if ((_sc(c).get("seccompProfile") or {}).get("type") or pod_type)
        not in ("RuntimeDefault", "Localhost")
    ]
    text = 'must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"'
    return _report("seccompProfile", _must(bad, text, pod_or=True))


Check = Callable[[Obj], "str | None"]
# (check ID, minimum level that enforces it, check) — evaluated in check-ID order like upstream.
CHECKS: list[tuple[str, int, Check]] = sorted(
    [
        ("allowPrivilegeEscalation", 2, _allow_privilege_escalation),
        ("capabilities_baseline", 1, _capabilities_baseline),
        ("capabilities_restricted", 2, _capabilities_restricted),
        ("hostNamespaces", 1, _host_namespaces),
        ("hostPathVolumes", 1, _host_path_volumes),
        ("hostPorts", 1, _host_ports),
        ("privileged", 1, _privileged),
        ("restrictedVolumes", 2, _restricted_volumes),
        ("runAsNonRoot", 2, _run_as_non_root),
        ("runAsUser", 2, _run_as_user),
        ("seccompProfile_restricted", 2, _seccomp_restricted),
    ],
    key=lambda c: c[0],
)


def violations(level: str, spec: Obj) -> list[str]:
    """Violation texts of a pod spec against a level (`privileged` has none)."""
    rank = LEVELS.get(level, 0)
    found = [check(spec) for _, minimum, check in CHECKS if minimum <= rank]
    return [f for f in found if f]


def enforce(namespace: Obj | None, pod: Obj) -> None:
    """Reject a pod that violates its namespace's enforced level (403 Forbidden)."""
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    level = labels.get("pod-security.kubernetes.io/enforce")
    if level not in ("baseline", "restricted"):
        return
    found = violations(level, pod.get("spec") or {})
    if found:
        version = labels.get("pod-security.kubernetes.io/enforce-version", "latest")
        why = f'violates PodSecurity "{level}:{version}": {", ".join(found)}'
        raise _errors.forbidden("", "pods", pod["metadata"]["name"], why)
