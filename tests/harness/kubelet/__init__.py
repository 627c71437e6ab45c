"""The process kubelet: runs agent pods as local processes for tests.

Public names: `ProcessKubelet`, `IMAGE_ENTRY_POINTS` (image repository → console
script) and `MOUNT_ENV` (container mount path → environment variable).
"""

from tests.harness.kubelet._images import IMAGE_ENTRY_POINTS, MOUNT_ENV
from tests.harness.kubelet._kubelet import ProcessKubelet

__all__ = ["IMAGE_ENTRY_POINTS", "MOUNT_ENV", "ProcessKubelet"]
