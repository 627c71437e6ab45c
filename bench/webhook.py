"""Admission latency of 1,000 AgentRun creates, without and with the webhook registered.

Runs against the kube emulator (or K8SCLAW_TEST_KUBECONFIG's cluster for the baseline)
and the real `k8sclaw-webhook --dev-url` process; prints p50/p99 of each and their
ratio. A figure, not a test: it never fails on time.

    uv run python bench/webhook.py [--runs 1000]
"""

from __future__ import annotations

import argparse
import base64
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import kubernetes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from k8sclaw_protocol import names
from tests.harness.kube import KubeEmulator, api_client
from tests.harness.kube_fixtures import install_crds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(name: str, instance: str = "alpha") -> dict[str, Any]:
    return {
        "apiVersion": names.GROUP_VERSION,
        "kind": "AgentRun",
        "metadata": {"name": name},
        "spec": {
            "instanceRef": instance,
            "sessionKey": "bench",
            "task": "benchmark",
            "model": {"provider": "openai", "model": "gpt-4o"},
        },
    }


def _measure(
    api: kubernetes.client.CustomObjectsApi, namespace: str, prefix: str, count: int
) -> list[float]:
    # Baseline runs belong to another instance, so they do not count against the
    # concurrency limit of "alpha" once the webhook is judging.
    instance = "alpha" if prefix == "hooked" else "baseline"
    timings = []
    for index in range(count):
        start = time.perf_counter()
        body = _run(f"{prefix}-{index}", instance)
        api.create_namespaced_custom_object(
            names.GROUP, names.API_VERSION, namespace, "agentruns", body
        )
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def _setup(
    client: kubernetes.client.ApiClient, namespace: str
) -> kubernetes.client.CustomObjectsApi:
    kubernetes.client.CoreV1Api(client).create_namespace({"metadata": {"name": namespace}})
    api = kubernetes.client.CustomObjectsApi(client)
    policy = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawPolicy",
        "metadata": {"name": "bench"},
        "spec": {
            "subagentPolicy": {"maxConcurrent": 1000},
            "toolGating": {"defaultAction": "allow"},
        },
    }
    instance = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": "alpha"},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}, "policyRef": "bench"},
    }
    api.create_namespaced_custom_object(
        names.GROUP, names.API_VERSION, namespace, "clawpolicies", policy
    )
    api.create_namespaced_custom_object(
        names.GROUP, names.API_VERSION, namespace, "clawinstances", instance
    )
    return api


def _start_webhook(kubeconfig: Path) -> tuple[subprocess.Popen[str], str]:
    script = shutil.which("k8sclaw-webhook")
    if script is None:
        raise SystemExit("k8sclaw-webhook is not installed; run `uv sync --all-packages`")
    url = f"https://127.0.0.1:{_free_port()}"
    command = [script, "--dev-url", url, "--kubeconfig", str(kubeconfig)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    registered = threading.Event()

    def drain() -> None:  # keep reading: a full stderr pipe would block the webhook
        assert process.stderr is not None
        for line in process.stderr:
            if "registered webhook configurations" in line:
                registered.set()
        registered.set()

    threading.Thread(target=drain, daemon=True).start()
    registered.wait()
    if process.poll() is not None:
        raise SystemExit(f"k8sclaw-webhook exited {process.returncode} before registering")
    return process, url


def _direct(url: str, ca: bytes, namespace: str, count: int) -> list[float]:
    """Mutate + validate reviews posted straight to the webhook over one kept-alive
    HTTPS connection, as kube-apiserver does (it caches webhook clients)."""
    trust = ssl.create_default_context(cadata=ca.decode())
    timings = []
    with httpx.Client(verify=trust) as client:
        for index in range(count):
            run = _run(f"direct-{index}")
            run["metadata"]["namespace"] = namespace
            review = {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {
                    "uid": str(index),
                    "dryRun": True,  # never stored: not counted as an admitted run
                    "operation": "CREATE",
                    "namespace": namespace,
                    "object": run,
                },
            }
            start = time.perf_counter()
            for path in (names.WEBHOOK_PATH_MUTATE_AGENTRUN, names.WEBHOOK_PATH_VALIDATE_AGENTRUN):
                client.post(url + path, json=review).raise_for_status()
            timings.append((time.perf_counter() - start) * 1000)
    return timings


def _summary(label: str, timings: list[float]) -> tuple[float, float]:
    quantiles = statistics.quantiles(timings, n=100)
    p50, p99 = statistics.median(timings), quantiles[98]
    print(f"{label:<26} n={len(timings):>5}  p50={p50:7.2f} ms  p99={p99:7.2f} ms")
    return p50, p99


def _registered_ca(client: kubernetes.client.ApiClient) -> bytes:
    api = kubernetes.client.AdmissionregistrationV1Api(client)
    config = api.read_validating_webhook_configuration(f"{names.WEBHOOK_CONFIGURATION}-dev")
    return base64.b64decode(config.webhooks[0].client_config.ca_bundle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    runs = parser.parse_args().runs
    with KubeEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = emulator.write_kubeconfig(Path(tmp) / "kubeconfig")
        client = api_client(kubeconfig)
        install_crds(client)
        namespace = f"bench-{secrets.token_hex(3)}"
        api = _setup(client, namespace)
        base50, base99 = _summary("without webhook", _measure(api, namespace, "plain", runs))
        process, url = _start_webhook(kubeconfig)
        api_client_ca = _registered_ca(client)
        try:
            _summary("webhook alone (2 reviews)", _direct(url, api_client_ca, namespace, runs))
            with50, with99 = _summary("with webhook", _measure(api, namespace, "hooked", runs))
            sample = api.get_namespaced_custom_object(
                names.GROUP, names.API_VERSION, namespace, "agentruns", "hooked-0"
            )
            called = names.LABEL_INSTANCE in (sample["metadata"].get("labels") or {})
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        if not called:
            print("WARNING: the API server never called the webhook (runs were not mutated);")
            print("         the 'with webhook' figures are not meaningful on this emulator build")
        print(
            f"ratio with/without         p50={with50 / base50:5.2f}x  p99={with99 / base99:5.2f}x"
        )
        print(f"p50 overhead               {with50 - base50:7.2f} ms (target <= 10 ms)")


if __name__ == "__main__":
    main()
