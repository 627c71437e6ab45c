"""The kube emulator: a Kubernetes API server for tests, small and strict.

See `tests/harness/kube/README.md` for what it implements and what it simplifies.
Public names: `KubeEmulator` (the server), `KubeEnv` (what the `kube` fixture yields),
`ApiError` (a `Status` error), and kubeconfig helpers.
"""

from tests.harness.kube._emulator import KubeEmulator
from tests.harness.kube._env import KubeEnv
from tests.harness.kube._errors import ApiError
from tests.harness.kube._kubeconfig import api_client, write_kubeconfig

__all__ = ["ApiError", "KubeEmulator", "KubeEnv", "api_client", "write_kubeconfig"]
