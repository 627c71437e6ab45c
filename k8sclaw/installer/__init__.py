"""Installer: applies the bundled manifests to a cluster and removes them again.

`load_bundle` → `install` (server-side apply, waits) and `uninstall` (no stuck objects);
`to_yaml` is what `k8sclaw install --dry-run` prints.
"""

from __future__ import annotations

from k8sclaw.installer._bundle import (
    LABEL_VERSION,
    MANIFESTS_DIR,
    STEPS,
    Step,
    load_bundle,
    object_ref,
    to_yaml,
)
from k8sclaw.installer._install import (
    InstallResult,
    NewerVersionInstalledError,
    apply_object,
    check_version,
    contains,
    install,
    installed_version,
)
from k8sclaw.installer._uninstall import uninstall
from k8sclaw.installer._wait import WaitTimeoutError

CRDS_DIR = MANIFESTS_DIR / "crds"
SAMPLES_DIR = MANIFESTS_DIR / "samples"

__all__ = [
    "CRDS_DIR",
    "InstallResult",
    "LABEL_VERSION",
    "MANIFESTS_DIR",
    "NewerVersionInstalledError",
    "SAMPLES_DIR",
    "STEPS",
    "Step",
    "WaitTimeoutError",
    "apply_object",
    "check_version",
    "contains",
    "install",
    "installed_version",
    "load_bundle",
    "object_ref",
    "to_yaml",
    "uninstall",
]
