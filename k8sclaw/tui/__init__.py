"""The k9s-style terminal UI (textual): live views of instances, runs, channels, policies,
skills and agent pods, driven by watch streams into an in-memory store.

`run_tui()` is what `k8sclaw` without arguments opens.
"""

from __future__ import annotations

import sys

from k8sclaw.tui._keys import K8sClawApp
from k8sclaw.tui._messages import ClusterReachable, ClusterUnreachable, RowsChanged
from k8sclaw.tui._store import Pod, Store

EXIT_NO_CLUSTER = 3


def run_tui(
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    *,
    readonly: bool = False,
    all_namespaces: bool = False,
) -> int:
    """Connect as kubectl would (k9s's --kubeconfig/--context/-n/-A) and open the UI; exit
    3 with the fix when there is no kubeconfig or context."""
    from k8sclaw.kube import ClusterTarget, Kube, KubeError

    try:
        kube = Kube.connect(ClusterTarget(kubeconfig, context))
    except KubeError as exc:
        print(f"k8sclaw: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return EXIT_NO_CLUSTER
    shown = "" if all_namespaces else namespace or kube.namespace  # "": every namespace
    app = K8sClawApp(kube, namespace=shown, readonly=readonly, kubeconfig=kubeconfig)
    return app.run() or 0


__all__ = [
    "ClusterReachable",
    "ClusterUnreachable",
    "K8sClawApp",
    "Pod",
    "RowsChanged",
    "Store",
    "run_tui",
]
