"""REST paths of the kinds K8sClaw reads and writes, without a discovery round-trip.

A static table is enough: the installer and CLI only touch a fixed set of kinds, and
skipping discovery keeps `k8sclaw runs list` to one request.
"""

from __future__ import annotations

from dataclasses import dataclass

from k8sclaw_protocol import KINDS, names


@dataclass(frozen=True)
class ResourceType:
    """Where objects of one kind live in the REST API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def custom(self) -> bool:
        """A K8sClaw custom resource (404 on its collection means CRDs missing)."""
        return self.api_version == names.GROUP_VERSION

    def collection(self, namespace: str | None) -> str:
        """Path of the collection, in `namespace` or across all namespaces."""
        prefix = (
            f"/api/{self.api_version}"
            if "/" not in self.api_version
            else (f"/apis/{self.api_version}")
        )
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"

    def item(self, name: str, namespace: str | None) -> str:
        """Path of one object."""
        return f"{self.collection(namespace)}/{name}"


_BUILTIN = [
    ResourceType("v1", "Namespace", "namespaces", False),
    ResourceType("v1", "ServiceAccount", "serviceaccounts", True),
    ResourceType("v1", "Secret", "secrets", True),
    ResourceType("v1", "ConfigMap", "configmaps", True),
    ResourceType("v1", "Service", "services", True),
    ResourceType("v1", "Pod", "pods", True),
    ResourceType("v1", "Event", "events", True),
    ResourceType("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    ResourceType("apps/v1", "Deployment", "deployments", True),
    ResourceType("apps/v1", "StatefulSet", "statefulsets", True),
    ResourceType("batch/v1", "Job", "jobs", True),
    ResourceType(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False
    ),
    ResourceType("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
    ResourceType(
        "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False
    ),
    ResourceType("rbac.authorization.k8s.io/v1", "Role", "roles", True),
    ResourceType("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
    ResourceType("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True),
    ResourceType("apiregistration.k8s.io/v1", "APIService", "apiservices", False),
    ResourceType(
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        False,
    ),
    ResourceType(
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        False,
    ),
]
_CUSTOM = [ResourceType(names.GROUP_VERSION, k.info.kind, k.info.plural, True) for k in KINDS]
_TABLE = {(t.api_version, t.kind): t for t in (*_BUILTIN, *_CUSTOM)}


def resource_type(api_version: str, kind: str) -> ResourceType:
    """The REST address of `kind`; KeyError naming the kind when we do not handle it."""
    try:
        return _TABLE[(api_version, kind)]
    except KeyError:
        raise KeyError(f"k8sclaw does not handle {api_version} {kind}") from None
