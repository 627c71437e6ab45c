"""Kill -9 the controller in the middle of 50 runs, restart it: one Job per run, all terminal.

The controller runs as its own process (`k8sclaw-controller`) so the kill is a real
SIGKILL, with no shutdown code run. The process kubelet runs every agent pod with a
cheap stand-in (`true` for the agent and the bridge), so runs really finish through the
Pod/Job path while the controller is away and after it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from k8sclaw_protocol import names
from tests.controllers.manager import _harness
from tests.controllers.manager._harness import create, instance_body, phase, run_body
from tests.harness.kube import KubeEnv
from tests.harness.kubelet import ProcessKubelet

RUNS = 50
TERMINAL = ("Succeeded", "Failed")
CHEAP = {  # image repository -> local program: the agent "succeeds" at once, silently
    names.IMAGE_AGENT_RUNNER.rsplit("/", 1)[-1]: "true",
    names.IMAGE_IPC_BRIDGE.rsplit("/", 1)[-1]: "true",
}


@contextlib.contextmanager
def controller_process(kube: KubeEnv, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`k8sclaw-controller` for the test namespace, ready (/readyz) when yielded."""
    port = _harness.free_port()
    argv = [
        shutil.which("k8sclaw-controller") or "k8sclaw-controller",
        *("-n", kube.namespace, "--kubeconfig", str(kube.kubeconfig)),
        *("--event-bus-url", "", "--history-limit", "1000"),
        *("--metrics-bind-address", f"127.0.0.1:{port}"),
    ]
    with log.open("ab") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=sink)
    try:
        _wait_ready(proc, f"http://127.0.0.1:{port}/readyz", log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"controller exited {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"controller not ready within 30 s: {log.read_text()[-2000:]}")


class JobLedger:
    """Every Job ADDED in the namespace from now on (short watches, resumed): name -> uids."""

    def __init__(self, kube: KubeEnv) -> None:
        self.api = kubernetes.client.BatchV1Api(kube.api_client)
        self.namespace = kube.namespace
        self.uids: dict[str, set[str]] = {}
        self._stopping = threading.Event()
        rv = self.api.list_namespaced_job(self.namespace).metadata.resource_version
        self._thread = threading.Thread(target=self._follow, args=(rv,), daemon=True)
        self._thread.start()

    def _follow(self, rv: str) -> None:
        while not self._stopping.is_set():
            for event in kubernetes.watch.Watch().stream(
                self.api.list_namespaced_job,
                self.namespace,
                resource_version=rv,
                timeout_seconds=1,
            ):
                job = event["object"].metadata
                rv = job.resource_version
                if event["type"] == "ADDED":
                    self.uids.setdefault(job.name, set()).add(job.uid)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(10)


def runs(kube: KubeEnv) -> list[dict[str, Any]]:
    listing = _harness.custom(kube).list_namespaced_custom_object(
        _harness.GROUP, _harness.VERSION, kube.namespace, "agentruns"
    )
    items: list[dict[str, Any]] = listing["items"]
    return items


async def wait_count(kube: KubeEnv, want: int, phases: tuple[str, ...], within: int = 60) -> None:
    """Until `want` runs are in one of `phases` (watch-driven, via a thread)."""

    def blocking() -> None:
        seen = {r["metadata"]["name"] for r in runs(kube) if phase(r) in phases}
        if len(seen) >= want:
            return
        watch = kubernetes.watch.Watch()
        for event in watch.stream(
            _harness.custom(kube).list_namespaced_custom_object,
            _harness.GROUP,
            _harness.VERSION,
            kube.namespace,
            "agentruns",
            timeout_seconds=within,
        ):
            if phase(event["object"]) in phases:
                seen.add(event["object"]["metadata"]["name"])
            if len(seen) >= want:
                watch.stop()
                return
        raise TimeoutError(f"only {len(seen)} of {want} runs reached {phases} within {within}s")

    await asyncio.to_thread(blocking)


@pytest.mark.slow
async def test_kill_and_restart_mid_burst_one_job_per_run_and_all_terminal(
    kube: KubeEnv, tmp_path: Path
) -> None:
    create(kube, "clawinstances", instance_body())
    kubelet = ProcessKubelet(kube.api_client, kube.namespace, tmp_path / "node", images=CHEAP)
    kubelet.start()
    ledger = JobLedger(kube)
    log = tmp_path / "controller.log"
    names_ = [f"burst-{i:02d}" for i in range(RUNS)]
    try:
        with controller_process(kube, log) as first:
            for name in names_[: RUNS // 2]:
                create(kube, "agentruns", run_body(name))
            await wait_count(kube, 5, ("Running", *TERMINAL))
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        for name in names_[RUNS // 2 :]:  # created while no controller runs
            create(kube, "agentruns", run_body(name))
        with controller_process(kube, log):
            await wait_count(kube, RUNS, TERMINAL)
            final = {r["metadata"]["name"]: r for r in runs(kube)}
    finally:
        ledger.stop()
        kubelet.stop()
    assert sorted(final) == names_
    stuck = {n: phase(r) for n, r in final.items() if phase(r) not in TERMINAL}
    assert stuck == {}
    assert {n: phase(r) for n, r in final.items() if phase(r) != "Succeeded"} == {}
    assert sorted(ledger.uids) == names_  # a Job for every run ...
    assert {n: len(u) for n, u in ledger.uids.items() if len(u) != 1} == {}  # ... exactly one
