"""API access for the CLI and TUI: connection from kubeconfig, typed calls, one error tree.

Two clients share one error tree (`_errors`): `Kube` (the official kubernetes client,
pydantic models; every verb) and `RestClient` (stdlib HTTP and plain dicts; the fast
read path of `list`/`get`). Names are loaded on first use (PEP 562), so importing
`k8sclaw.kube._errors` or the fast path never pulls in the kubernetes client or pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from k8sclaw.kube._client import FIELD_MANAGER, Kube, iter_lines
    from k8sclaw.kube._config import (
        ClusterTarget,
        Connection,
        connect,
        context_names,
        kubeconfig_paths,
    )
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
    from k8sclaw.kube._kinds import CUSTOM_KINDS, KindNames
    from k8sclaw.kube._kubeconfig import RestConfig, UnsupportedConfigError
    from k8sclaw.kube._paths import ResourceType, resource_type
    from k8sclaw.kube._rest import RestClient, connect_rest

_WHERE = {
    "_client": ("FIELD_MANAGER", "Kube", "iter_lines"),
    "_config": ("ClusterTarget", "Connection", "connect", "context_names", "kubeconfig_paths"),
    "_errors": (
        "INSTALL_HINT",
        "ClusterUnreachableError",
        "ConflictError",
        "CRDsMissingError",
        "ForbiddenError",
        "InvalidError",
        "KubeError",
        "NoKubeconfigError",
        "NotFoundError",
    ),
    "_kinds": ("CUSTOM_KINDS", "KindNames"),
    "_kubeconfig": ("RestConfig", "UnsupportedConfigError"),
    "_paths": ("ResourceType", "resource_type"),
    "_rest": ("RestClient", "connect_rest"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import the module defining `name` on first access."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CRDsMissingError",
    "CUSTOM_KINDS",
    "ClusterTarget",
    "ClusterUnreachableError",
    "ConflictError",
    "Connection",
    "FIELD_MANAGER",
    "ForbiddenError",
    "INSTALL_HINT",
    "InvalidError",
    "KindNames",
    "Kube",
    "KubeError",
    "NoKubeconfigError",
    "NotFoundError",
    "ResourceType",
    "RestClient",
    "RestConfig",
    "UnsupportedConfigError",
    "connect",
    "connect_rest",
    "context_names",
    "iter_lines",
    "kubeconfig_paths",
    "resource_type",
]
