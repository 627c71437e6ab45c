"""Server-side defaults and basic validation for the built-in kinds K8sClaw creates.

Only the defaults code under test can observe are filled in (pod phase, restart policy,
service account, Job selector and labels, Secret `stringData`, namespace label, ...);
validation covers names and the rules whose violation K8sClaw must be able to see.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from tests.harness.kube import _errors
from tests.harness.kube._types import ResourceType

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_LABEL_NAME_KINDS = {"Namespace", "Service"}
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_VALUE_MAX = 63
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

Obj = dict[str, Any]


def validate_name(rtype: ResourceType, name: str) -> None:
    """Names are RFC 1123 subdomains (labels for Namespace and Service)."""
    as_label = rtype.kind in _LABEL_NAME_KINDS and not rtype.group
    pattern, message, limit = (
        (_LABEL, _LABEL_MSG, 63) if as_label else (_SUBDOMAIN, _SUBDOMAIN_MSG, 253)
    )
    if not pattern.match(name) or len(name) > limit:
        raise _errors.invalid(
            rtype.group,
            rtype.kind,
            name,
            [("metadata.name", f'Invalid value: "{name}": {message}')],
        )


def apply_defaults(rtype: ResourceType, obj: Obj) -> None:
    """Fill in the defaults kube-apiserver would, for the kinds that have any here."""
    fill = _DEFAULTERS.get((rtype.group, rtype.kind))
    if fill is not None:
        fill(obj)


def validate(rtype: ResourceType, obj: Obj) -> None:
    """Per-kind validation (422 Invalid) for the rules tests rely on."""
    name = obj["metadata"].get("name", "")
    causes = _label_values("metadata.labels", obj["metadata"].get("labels"))
    if (rtype.group, rtype.kind) == ("batch", "Job"):
        template = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
        causes += _label_values("spec.template.labels", template.get("labels"))
    if (rtype.group, rtype.kind) in (("", "Pod"), ("batch", "Job")):
        spec = obj.get("spec") or {}
        prefix = "spec"
        if rtype.kind == "Job":
            spec = ((spec.get("template") or {}).get("spec")) or {}
            prefix = "spec.template.spec"
            policy = spec.get("restartPolicy")
            if policy not in ("Never", "OnFailure"):
                causes.append(
                    (
                        f"{prefix}.restartPolicy",
                        f'Unsupported value: "{policy or "Always"}": '
                        'supported values: "OnFailure", "Never"',
                    )
                )
        if not spec.get("containers"):
            causes.append((f"{prefix}.containers", "Required value"))
        for i, container in enumerate(spec.get("containers") or []):
            for required in ("name", "image"):
                if not container.get(required):
                    causes.append((f"{prefix}.containers[{i}].{required}", "Required value"))
            causes += _requests_within_limits(f"{prefix}.containers[{i}]", container)
    if causes:
        raise _errors.invalid(rtype.group, rtype.kind, name, causes)


_QUANTITY = re.compile(r"^([0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SUFFIX = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
    "E": 1e18,
}  # fmt: skip


def _quantity(value: object) -> float | None:
    match = _QUANTITY.match(str(value))
    if match is None:
        return None
    return float(match[1]) * _SUFFIX.get(match[2] or "", 1)


def _requests_within_limits(field: str, container: Obj) -> list[tuple[str, str]]:
    """A request above its limit: 422 `must be less than or equal to cpu limit of 500m`."""
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    causes = []
    for name, raw in requests.items():
        wanted, cap = _quantity(raw), _quantity(limits.get(name))
        if wanted is not None and cap is not None and wanted > cap:
            causes.append(
                (
                    f"{field}.resources.requests",
                    f'Invalid value: "{raw}": must be less than or equal to {name} limit '
                    f"of {limits[name]}",
                )
            )
    return causes


def _label_values(field: str, labels: object) -> list[tuple[str, str]]:
    """Label values: at most 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends
    (kube-apiserver refuses e.g. a Job whose name, copied into a label, is longer)."""
    if not isinstance(labels, dict):
        return []
    causes = []
    for value in labels.values():
        text = str(value)
        if len(text) > _LABEL_VALUE_MAX:
            causes.append((field, f'Invalid value: "{text}": must be no more than 63 characters'))
        elif not _LABEL_VALUE.match(text):
            causes.append((field, f'Invalid value: "{text}": {_LABEL_VALUE_MSG}'))
    return causes


def _container(container: Obj) -> None:
    image = str(container.get("image", ""))
    container.setdefault(
        "imagePullPolicy",
        "Always"
        if image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1]
        else "IfNotPresent",
    )
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})


def _pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        _container(container)


def _pod(obj: Obj) -> None:
    _pod_spec(obj.setdefault("spec", {}))
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")


def _job(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    for key, value in (
        ("backoffLimit", 6),
        ("completions", 1),
        ("parallelism", 1),
        ("completionMode", "NonIndexed"),
        ("suspend", False),
        ("podReplacementPolicy", "TerminatingOrFailed"),
    ):
        spec.setdefault(key, value)
    uid = obj["metadata"].setdefault("uid", str(uuid.uuid4()))
    name = obj["metadata"].get("name", "")
    if not spec.get("manualSelector"):
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
        labels.update(
            {
                "batch.kubernetes.io/controller-uid": uid,
                "controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "job-name": name,
            }
        )
    _pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


def _secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")
    for key, value in (obj.pop("stringData", None) or {}).items():
        obj.setdefault("data", {})[key] = base64.b64encode(str(value).encode()).decode()


def _namespace(obj: Obj) -> None:
    meta = obj["metadata"]
    meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("clusterIP") != "None":
        octets = uuid.uuid4().bytes
        spec.setdefault("clusterIP", f"10.96.{octets[0]}.{octets[1] or 1}")
    for port in spec.get("ports", []):
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault(
        "strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    )
    _pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


def _statefulset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    _pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


_DEFAULTERS = {
    ("", "Pod"): _pod,
    ("batch", "Job"): _job,
    ("", "Secret"): _secret,
    ("", "Namespace"): _namespace,
    ("", "Service"): _service,
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
}
