"""`python -m tests.harness.kube`: the emulator as its own process (used by the benchmarks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes

from tests.harness.kube import api_client

ROOT = Path(__file__).resolve().parents[2]


def test_emulator_process_serves_and_stops_when_stdin_closes(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    with subprocess.Popen(
        [sys.executable, "-m", "tests.harness.kube", str(kubeconfig)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stdin is not None
            line = proc.stdout.readline().decode()
            assert line.startswith("ready http://127.0.0.1:")
            with api_client(kubeconfig) as client:
                core = kubernetes.client.CoreV1Api(client)
                core.create_namespace({"metadata": {"name": "from-another-process"}})
                names = {ns.metadata.name for ns in core.list_namespace().items}
            assert {"default", "from-another-process"} <= names
            proc.stdin.close()
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
