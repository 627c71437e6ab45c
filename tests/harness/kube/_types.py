"""Resource types the emulator serves: the built-in catalogue and the live registry.

A `ResourceType` says where a kind lives (group, version, plural), how it behaves
(namespaced, status subresource, generation) and, for custom resources, its schema.
The registry grows and shrinks as CustomResourceDefinitions are created and deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served resource (one group/version/plural)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    status: bool = False
    extra_subresources: tuple[str, ...] = ()
    generation: bool = False
    custom: bool = False
    categories: tuple[str, ...] = ()
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    singular: str = ""
    field_selectors: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        """`apiVersion` of objects of this type (`v1` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: objects are shared across versions of one group/plural."""
        return (self.group, self.plural)

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()


def _t(
    group: str, version: str, kind: str, plural: str, namespaced: bool = True, **kw: Any
) -> ResourceType:
    return ResourceType(group, version, kind, plural, namespaced, **kw)


_POD_FIELDS = ("spec.nodeName", "status.phase", "spec.restartPolicy", "spec.serviceAccountName")
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.name",
    "involvedObject.namespace",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "reason",
    "type",
)

BUILTINS: tuple[ResourceType, ...] = (
    _t(
        "",
        "v1",
        "Namespace",
        "namespaces",
        False,
        short_names=("ns",),
        status=True,
        extra_subresources=("finalize",),
        field_selectors=("status.phase",),
    ),
    _t("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    _t("", "v1", "Secret", "secrets", field_selectors=("type",)),
    _t(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        short_names=("sa",),
        extra_subresources=("token",),
    ),
    _t("", "v1", "ResourceQuota", "resourcequotas", short_names=("quota",), status=True),
    _t(
        "",
        "v1",
        "Pod",
        "pods",
        short_names=("po",),
        status=True,
        extra_subresources=("log", "binding"),
        field_selectors=_POD_FIELDS,
    ),
    _t("", "v1", "Service", "services", short_names=("svc",), status=True),
    _t("", "v1", "Event", "events", short_names=("ev",), field_selectors=_EVENT_FIELDS),
    _t(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        short_names=("pvc",),
        status=True,
    ),
    _t("", "v1", "Node", "nodes", False, short_names=("no",), status=True),
    _t("apiregistration.k8s.io", "v1", "APIService", "apiservices", False, status=True),
    _t("events.k8s.io", "v1", "Event", "events", short_names=("ev",)),
    _t(
        "batch",
        "v1",
        "Job",
        "jobs",
        status=True,
        generation=True,
        field_selectors=("status.successful",),
    ),
    _t("batch", "v1", "CronJob", "cronjobs", short_names=("cj",), status=True, generation=True),
    _t(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        short_names=("deploy",),
        status=True,
        generation=True,
    ),
    _t(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        short_names=("sts",),
        status=True,
        generation=True,
    ),
    _t(
        "apps", "v1", "ReplicaSet", "replicasets", short_names=("rs",), status=True, generation=True
    ),
    _t(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        short_names=("netpol",),
        generation=True,
    ),
    _t(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        short_names=("ing",),
        status=True,
        generation=True,
    ),
    _t("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _t("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _t("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _t("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _t("coordination.k8s.io", "v1", "Lease", "leases"),
    _t("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", False),
    _t("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False),
    _t(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        False,
    ),
    _t(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        short_names=("crd", "crds"),
        status=True,
        generation=True,
    ),
    _t(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        False,
        generation=True,
    ),
    _t(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        False,
        generation=True,
    ),
)


class Registry:
    """Every served type, looked up by (group, version, plural) or by apiVersion + kind."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rtype in BUILTINS:
            self.add(rtype)

    def add(self, rtype: ResourceType) -> None:
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def remove_group_plural(self, group: str, plural: str) -> None:
        for key in [k for k in self._types if k[0] == group and k[2] == plural]:
            del self._types[key]

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rtype in self._types.values():
            if (rtype.group, rtype.version, rtype.kind) == (group, version, kind):
                return rtype
        return None

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Group → served versions (core group under "")."""
        out: dict[str, list[str]] = {}
        for group, version, _ in self._types:
            versions = out.setdefault(group, [])
            if version not in versions:
                versions.append(version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for (g, v, _), t in self._types.items() if (g, v) == (group, version)]
