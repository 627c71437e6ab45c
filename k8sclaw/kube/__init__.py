"""API access for the CLI and TUI: connection from kubeconfig, typed calls, one error tree.

Callers import this package only when they need the cluster: it pulls in the
kubernetes client lazily (inside `connect`), so `k8sclaw --help` stays fast.
"""

from k8sclaw.kube._client import FIELD_MANAGER, Kube, iter_lines
from k8sclaw.kube._config import ClusterTarget, Connection, connect, kubeconfig_paths
from k8sclaw.kube._errors import (
    INSTALL_HINT,
    ClusterUnreachableError,
    ConflictError,
    CRDsMissingError,
    ForbiddenError,
    InvalidError,
    KubeError,
    NoKubeconfigError,
    NotFoundError,
)
from k8sclaw.kube._paths import ResourceType, resource_type

__all__ = [
    "CRDsMissingError",
    "ClusterTarget",
    "ClusterUnreachableError",
    "ConflictError",
    "Connection",
    "FIELD_MANAGER",
    "ForbiddenError",
    "INSTALL_HINT",
    "InvalidError",
    "Kube",
    "KubeError",
    "NoKubeconfigError",
    "NotFoundError",
    "ResourceType",
    "connect",
    "iter_lines",
    "kubeconfig_paths",
    "resource_type",
]
