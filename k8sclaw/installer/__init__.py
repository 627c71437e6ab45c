"""Installer: applies the bundled manifests to a cluster and removes them again.

`load_bundle` → `install` (server-side apply, waits) and `uninstall` (no stuck objects);
`to_yaml` is what `k8sclaw install --dry-run` prints; `fetch_manifests` gets another
release's manifests for `install --version`.
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
from k8sclaw.installer._database import use_database_secret
from k8sclaw.installer._install import (
    InstallResult,
    NewerVersionInstalledError,
    apply_object,
    check_version,
    contains,
    install,
    installed_version,
)
from k8sclaw.installer._release import (
    DEFAULT_RELEASE_URL,
    RELEASE_URL_ENV,
    ReleaseDownloadError,
    bundle_name,
    fetch_manifests,
    release_url,
    write_release_bundle,
)
from k8sclaw.installer._uninstall import uninstall
from k8sclaw.installer._wait import WaitTimeoutError, wait_for

CRDS_DIR = MANIFESTS_DIR / "crds"
SAMPLES_DIR = MANIFESTS_DIR / "samples"

__all__ = [
    "CRDS_DIR",
    "DEFAULT_RELEASE_URL",
    "InstallResult",
    "LABEL_VERSION",
    "MANIFESTS_DIR",
    "NewerVersionInstalledError",
    "RELEASE_URL_ENV",
    "ReleaseDownloadError",
    "SAMPLES_DIR",
    "STEPS",
    "Step",
    "WaitTimeoutError",
    "apply_object",
    "bundle_name",
    "check_version",
    "contains",
    "fetch_manifests",
    "install",
    "installed_version",
    "load_bundle",
    "object_ref",
    "release_url",
    "to_yaml",
    "uninstall",
    "use_database_secret",
    "wait_for",
    "write_release_bundle",
]
