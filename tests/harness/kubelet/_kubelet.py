"""`ProcessKubelet`: plays a node for the agent pods of one namespace.

It registers a Node whose every address resolves (InternalIP 127.0.0.1, Hostname
`localhost`: kube-apiserver dials the first of `--kubelet-preferred-address-types`,
Hostname first, to proxy `pods/log`; kubelet port = its HTTPS log server), keeps it Ready
and its `kube-node-lease` Lease renewed every `lease_interval` seconds (without them the
node lifecycle controller taints the node and evicts its pods), watches
pods labelled `k8sclaw.io/role=agent`, binds unscheduled ones to itself through
`pods/binding` (there is no scheduler), runs them with `PodRunner`, and on deletion stops
the processes and removes the pod (grace period 0), as a kubelet does. Everything goes
through the API, so it works behind the emulator and behind a real API server alike.
"""

from __future__ import annotations

import contextlib
import datetime
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
LEASE_NAMESPACE = "kube-node-lease"
LEASE_INTERVAL = 10.0
"""The kubelet's lease renew interval (a quarter of the 40 s lease duration)."""
LEASE_DURATION = 40


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    """metav1.MicroTime, as a Lease's renewTime is written."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
        lease_interval: float = LEASE_INTERVAL,
    ) -> None:
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.leases = kubernetes.client.CoordinationV1Api(api_client)
        self._node_uid = ""
        self.namespace, self.workdir, self.selector = namespace, workdir, selector
        self.images = images or {}
        self.node_name = node_name or f"process-kubelet-{secrets.token_hex(3)}"
        self.runners: dict[str, PodRunner] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._response: Any = None
        self._logs = LogServer(self._lookup)
        self._thread = threading.Thread(target=self._watch, name="process-kubelet", daemon=True)
        self.lease_interval = lease_interval
        self._heart = threading.Thread(target=self._heartbeat, name="kubelet-lease", daemon=True)

    @property
    def serving_ca(self) -> Any:
        """The `trustme.CA` of the kubelet's serving certificate (SANs 127.0.0.1 and
        localhost, its Node's addresses; kube-apiserver does not verify it by default)."""
        return self._logs.ca

    def start(self) -> ProcessKubelet:
        self._logs.start()
        self._register_node()
        self._renew_lease()
        self._thread.start()
        self._heart.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()
        self._thread.join(timeout=10)
        self._heart.join(timeout=10)
        with self._lock:
            runners = list(self.runners.values())
        for runner in runners:
            runner.stop(grace=2.0)
        self._logs.stop()
        with contextlib.suppress(kubernetes.client.ApiException):
            self.core.delete_node(self.node_name)
        with contextlib.suppress(kubernetes.client.ApiException):
            self.leases.delete_namespaced_lease(self.node_name, LEASE_NAMESPACE)

    def _register_node(self) -> None:
        labels = {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux"}
        node = self.core.create_node({"metadata": {"name": self.node_name, "labels": labels}})
        self._node_uid = node.metadata.uid
        status = {
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": "localhost"},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self._logs.port}},
            "conditions": [self._ready_condition()],
        }
        self.core.patch_node_status(self.node_name, {"status": status})

    def _ready_condition(self) -> Obj:
        return {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "process kubelet is posting ready status",
            "lastHeartbeatTime": _now(),
        }

    # -- node heartbeat ------------------------------------------------------------------------
    def _renew_lease(self) -> None:
        """Create or renew the node's Lease (owned by the Node, so it goes with it)."""
        spec = {
            "holderIdentity": self.node_name,
            "leaseDurationSeconds": LEASE_DURATION,
            "renewTime": _micro_now(),
        }
        try:
            self.leases.patch_namespaced_lease(self.node_name, LEASE_NAMESPACE, {"spec": spec})
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise
            owner = {"apiVersion": "v1", "kind": "Node", "name": self.node_name}
            meta = {"name": self.node_name, "ownerReferences": [{**owner, "uid": self._node_uid}]}
            body = {"metadata": meta, "spec": spec}
            self.leases.create_namespaced_lease(LEASE_NAMESPACE, body)

    def _heartbeat(self) -> None:
        """Every `lease_interval`: renew the Lease and the Ready condition's heartbeat."""
        while not self._stopping.wait(self.lease_interval):
            try:
                self._renew_lease()
                status = {"conditions": [self._ready_condition()]}
                self.core.patch_node_status(self.node_name, {"status": status})
            except (kubernetes.client.ApiException, OSError, ValueError):
                continue  # the API server is away for a moment; the next beat retries

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
