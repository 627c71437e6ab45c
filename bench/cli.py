"""CLI figures in one run: start-up and `runs list` with 1,000 AgentRuns.

Prints (never asserts) medians and ratios measured in the same run:
  * `k8sclaw --help` / `k8sclaw version` against `python -c pass`  (target <= 0.3 s)
  * `k8sclaw runs list` against a bare kubernetes-client list in a fresh process, and
    against `kubectl get agentruns` when kubectl is on PATH           (target <= 1.5x kubectl)
The API server is the kube emulator on 127.0.0.1 (or --kubeconfig for a real cluster).

    uv run python bench/cli.py [--runs 1000] [--kubeconfig PATH]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REPEAT = 7
BARE_LIST = (
    "import sys, kubernetes\n"
    "c = kubernetes.config.new_client_from_config(sys.argv[1])\n"
    "kubernetes.client.CustomObjectsApi(c).list_namespaced_custom_object("
    "'k8sclaw.io', 'v1alpha1', sys.argv[2], 'agentruns')\n"
)


def median_wall(argv: list[str], repeat: int = REPEAT) -> float:
    """Median wall time of a command, output discarded."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def line(label: str, seconds: float, base: float | None = None, note: str = "") -> None:
    ratio = f"  {seconds / base:5.2f}x" if base else ""
    print(f"{label:<40} {seconds * 1000:8.1f} ms{ratio}  {note}")


def startup(exe: str) -> None:
    base = median_wall([sys.executable, "-c", "pass"])
    line("python -c pass", base)
    for args in (["--help"], ["version"]):
        wall = median_wall([exe, *args])
        line(f"k8sclaw {' '.join(args)}", wall, base, "ok" if wall <= 0.3 else "OVER 0.3 s")


def seed_runs(kubeconfig: Path, namespace: str, count: int) -> None:
    import kubernetes

    from tests.harness.kube import api_client
    from tests.harness.kube_fixtures import install_crds

    with api_client(kubeconfig) as client:
        install_crds(client)
        kubernetes.client.CoreV1Api(client).create_namespace({"metadata": {"name": namespace}})
        api = kubernetes.client.CustomObjectsApi(client)
        for i in range(count):
            body = {
                "apiVersion": "k8sclaw.io/v1alpha1",
                "kind": "AgentRun",
                "metadata": {"name": f"run-{i:05d}", "labels": {"k8sclaw.io/instance": "bench"}},
                "spec": {
                    "instanceRef": "bench",
                    "sessionKey": f"s{i}",
                    "task": f"task {i}",
                    "model": {"provider": "openai", "model": "gpt-4o"},
                },
            }
            api.create_namespaced_custom_object(
                "k8sclaw.io", "v1alpha1", namespace, "agentruns", body
            )


def list_figures(exe: str, kubeconfig: Path, namespace: str, count: int) -> None:
    ours = median_wall([exe, "runs", "list", "-n", namespace, "--kubeconfig", str(kubeconfig)])
    bare = median_wall([sys.executable, "-c", BARE_LIST, str(kubeconfig), namespace])
    kubectl = shutil.which("kubectl")
    base = None
    if kubectl:
        base = median_wall(
            [kubectl, "--kubeconfig", str(kubeconfig), "get", "agentruns", "-n", namespace]
        )
        line(f"kubectl get agentruns ({count})", base)
    else:
        print("kubectl not on PATH: no kubectl baseline")
    line(f"bare kubernetes-client list ({count})", bare)
    verdict = ("ok" if ours <= 1.5 * base else "OVER 1.5x kubectl") if base else ""
    line(f"k8sclaw runs list ({count})", ours, base or bare, verdict or "ratio vs bare client list")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--kubeconfig", type=Path, help="real cluster (default: the emulator)")
    args = parser.parse_args()
    exe = shutil.which("k8sclaw")
    if exe is None:
        print("k8sclaw is not on PATH; run `uv sync` first", file=sys.stderr)
        return 2
    startup(exe)
    namespace = f"bench-{int(time.time())}"
    if args.kubeconfig:
        seed_runs(args.kubeconfig, namespace, args.runs)
        list_figures(exe, args.kubeconfig, namespace, args.runs)
        return 0
    from tests.harness.kube import KubeEmulator

    with KubeEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = emulator.write_kubeconfig(Path(tmp) / "kubeconfig")
        seed_runs(kubeconfig, namespace, args.runs)
        list_figures(exe, kubeconfig, namespace, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
