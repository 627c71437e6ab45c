"""`k8sclaw-apiserver` as a process: flags, environment, serving, clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import free_port


def test_the_console_script_serves_until_sigterm(kube: KubeEnv, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig), "K8SCLAW_API_TOKEN": "s3cret-token"}
    proc = subprocess.Popen(
        ["k8sclaw-apiserver", "--addr", f"127.0.0.1:{port}", "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).text == "ok":
                    break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.2)
        headers = {"Authorization": "Bearer s3cret-token"}
        got = httpx.get(f"http://127.0.0.1:{port}/api/v1/namespaces", headers=headers, timeout=60)
        assert kube.namespace in {n["name"] for n in got.json()["items"]}
        assert (tmp_path / "transcripts.db").exists()  # SQLite in --data-dir without DATABASE_URL
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    # uvicorn shuts down gracefully, then re-raises the signal (exit by SIGTERM, as expected)
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "s3cret-token" not in output


def test_a_malformed_addr_is_refused() -> None:
    done = subprocess.run(
        ["k8sclaw-apiserver", "--addr", "nonsense"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--addr" in done.stderr
