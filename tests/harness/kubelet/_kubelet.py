"""`ProcessKubelet`: plays a node for the agent pods of one namespace.

It registers a Node (InternalIP 127.0.0.1, kubelet port = its HTTPS log server), watches
pods labelled `k8sclaw.io/role=agent`, binds unscheduled ones to itself through
`pods/binding` (there is no scheduler), runs them with `PodRunner`, and on deletion stops
the processes and removes the pod (grace period 0), as a kubelet does. Everything goes
through the API, so it works behind the emulator and behind a real API server alike.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from pathlib import Path
from typing import Any

import kubernetes

from k8sclaw_protocol import names
from tests.harness.kubelet._logserver import LogServer
from tests.harness.kubelet._runner import PodRunner

Obj = dict[str, Any]


class ProcessKubelet:
    """Start with `start()`, stop with `stop()` (kills every process it started)."""

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        namespace: str,
        workdir: Path,
        *,
        images: dict[str, str] | None = None,
        node_name: str | None = None,
        selector: str = f"{names.LABEL_ROLE}={names.ROLE_AGENT}",
    ) -> None:
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.namespace, self.workdir, self.selector = namespace, workdir, selector
        self.images = images or {}
        self.node_name = node_name or f"process-kubelet-{secrets.token_hex(3)}"
        self.runners: dict[str, PodRunner] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._response: Any = None
        self._logs = LogServer(self._lookup)
        self._thread = threading.Thread(target=self._watch, name="process-kubelet", daemon=True)

    def start(self) -> ProcessKubelet:
        self._logs.start()
        self._register_node()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()
        self._thread.join(timeout=10)
        with self._lock:
            runners = list(self.runners.values())
        for runner in runners:
            runner.stop(grace=2.0)
        self._logs.stop()
        with contextlib.suppress(kubernetes.client.ApiException):
            self.core.delete_node(self.node_name)

    def _register_node(self) -> None:
        labels = {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux"}
        self.core.create_node({"metadata": {"name": self.node_name, "labels": labels}})
        status = {
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self._logs.port}},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "process kubelet is posting ready status",
                }
            ],
        }
        self.core.patch_node_status(self.node_name, {"status": status})

    def _lookup(self, namespace: str, pod: str, container: str) -> Any:
        with self._lock:
            runner = self.runners.get(pod)
        if runner is None or namespace != self.namespace:
            return None
        for item in runner.containers():
            if item.name == container:
                return item.log, lambda c=item: c.finished
        return None

    # -- the watch loop ----------------------------------------------------------------------
    def _watch(self) -> None:
        rv = ""
        while not self._stopping.is_set():
            try:
                rv = self._watch_once(rv)
            except (kubernetes.client.ApiException, OSError, ValueError):
                if self._stopping.is_set():
                    return
                rv = ""
            except Exception:
                if self._stopping.is_set():
                    return
                raise

    def _watch_once(self, rv: str) -> str:
        if not rv:
            listing = self.core.list_namespaced_pod(self.namespace, label_selector=self.selector)
            for pod in listing.items:
                self._handle("ADDED", self.core.api_client.sanitize_for_serialization(pod))
            rv = listing.metadata.resource_version
        response = self.core.list_namespaced_pod(
            self.namespace,
            label_selector=self.selector,
            watch=True,
            resource_version=rv,
            allow_watch_bookmarks=True,
            timeout_seconds=300,
            _preload_content=False,
        )
        self._response = response
        if self._stopping.is_set():
            return rv
        for line in response:
            for raw in line.splitlines():
                if not raw.strip():
                    continue
                event = json.loads(raw)
                if event["type"] == "ERROR":
                    return ""
                rv = event["object"]["metadata"].get("resourceVersion", rv)
                if event["type"] != "BOOKMARK":
                    self._handle(event["type"], event["object"])
        return rv

    def _handle(self, kind: str, pod: Obj) -> None:
        meta, spec = pod["metadata"], pod.get("spec", {})
        name = meta["name"]
        if kind == "DELETED" or meta.get("deletionTimestamp"):
            self._delete(pod, gone=kind == "DELETED")
            return
        if spec.get("nodeName") not in (None, "", self.node_name):
            return
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return
        if not spec.get("nodeName"):
            self._bind(name)
            return
        with self._lock:
            if name in self.runners:
                return
            runner = PodRunner(self.core, pod, self.workdir / name, self.images)
            self.runners[name] = runner
        runner.start()

    def _bind(self, name: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        with contextlib.suppress(kubernetes.client.ApiException):
            self.core.create_namespaced_pod_binding(
                name, self.namespace, body, _preload_content=False
            )

    def _delete(self, pod: Obj, gone: bool) -> None:
        name = pod["metadata"]["name"]
        with self._lock:
            runner = self.runners.get(name)
        if runner is not None:
            grace = pod["metadata"].get("deletionGracePeriodSeconds") or 0
            threading.Thread(
                target=self._finish_delete, args=(runner, name, float(grace), gone), daemon=True
            ).start()
        elif not gone and pod.get("spec", {}).get("nodeName") == self.node_name:
            self._force_delete(name)

    def _finish_delete(self, runner: PodRunner, name: str, grace: float, gone: bool) -> None:
        runner.stop(grace=min(grace, 5.0))
        if not gone:
            self._force_delete(name)

    def _force_delete(self, name: str) -> None:
        with contextlib.suppress(kubernetes.client.ApiException):
            self.core.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)
