"""Runs one pod: its init containers in order, then its containers as local processes.

Each volume is a directory under the pod's work dir and the mount paths listed in
`MOUNT_ENV` reach the code through environment variables. Status (phase, conditions,
container states, exit codes) is written back through `pods/status`. Init containers
with `restartPolicy: Always` are sidecars: started, then stopped once the regular
containers are done. Restart policies `Always`/`OnFailure` do not restart processes.
A volume that cannot be set up (a missing ConfigMap, Secret or ServiceAccount) leaves the
pod Pending with its containers waiting in `ContainerCreating`, is reported as a
`FailedMount` Warning Event naming the missing object, and is retried (backing off to
`MOUNT_RETRY_MAX` seconds) until it can be or the pod is deleted, as a kubelet does.
"""

from __future__ import annotations

import base64
import datetime
import logging
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import kubernetes

from tests.harness.kubelet import _images, _volumes

Obj = dict[str, Any]
log = logging.getLogger(__name__)
MOUNT_RETRY_FIRST, MOUNT_RETRY_MAX = 0.5, 4.0
_BASE_ENV = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "VIRTUAL_ENV")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Container:
    """One container's process and its log file."""

    def __init__(self, spec: Obj, log: Path) -> None:
        self.spec, self.log = spec, log
        self.name: str = spec["name"]
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = ""
        self.finished_at = ""
        self.error = ""
        self.waiting = "ContainerCreating"  # until its volumes are set up

    @property
    def finished(self) -> bool:
        return bool(self.error) or (self.process is not None and self.process.poll() is not None)

    def status(self) -> Obj:
        out: Obj = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": "",
            "restartCount": 0,
            "ready": False,
            "started": False,
        }
        if self.error:
            out["state"] = {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": self.error,
                    "startedAt": _now(),
                    "finishedAt": _now(),
                }
            }
        elif self.process is None:
            out["state"] = {"waiting": {"reason": self.waiting}}
        elif self.process.poll() is None:
            out.update(ready=True, started=True, containerID=f"process://{self.process.pid}")
            out["state"] = {"running": {"startedAt": self.started_at}}
        else:
            code = self.process.returncode
            code = 128 - code if code < 0 else code
            out["containerID"] = f"process://{self.process.pid}"
            out["state"] = {
                "terminated": {
                    "exitCode": code,
                    "reason": "Completed" if code == 0 else "Error",
                    "startedAt": self.started_at,
                    "finishedAt": self.finished_at or _now(),
                }
            }
        return out

    @property
    def exit_code(self) -> int:
        if self.error:
            return 128
        assert self.process is not None and self.process.returncode is not None
        return (
            128 - self.process.returncode
            if self.process.returncode < 0
            else self.process.returncode
        )


class PodRunner:
    """Starts, watches and stops the processes of one pod."""

    def __init__(
        self, core: kubernetes.client.CoreV1Api, pod: Obj, workdir: Path, images: dict[str, str]
    ) -> None:
        self.core, self.pod, self.workdir, self.images = core, pod, workdir, images
        meta, spec = pod["metadata"], pod["spec"]
        self.namespace, self.name = meta["namespace"], meta["name"]
        logs = workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.init = [
            Container(c, logs / f"{c['name']}.log") for c in spec.get("initContainers", [])
        ]
        self.main = [Container(c, logs / f"{c['name']}.log") for c in spec.get("containers", [])]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pod-{self.name}", daemon=True)

    def containers(self) -> list[Container]:
        return [*self.init, *self.main]

    def start(self) -> None:
        self._thread.start()

    def stop(self, grace: float = 5.0) -> None:
        """Terminate every process (SIGTERM, then SIGKILL after `grace`) and wait for the runner."""
        self._stop.set()
        for container in self.containers():
            _kill(container, grace)
        self._thread.join(timeout=grace + 10)

    # -- the pod's life --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            env_dirs = self._prepare_volumes()
            self._report("Pending")
            sidecars = [c for c in self.init if c.spec.get("restartPolicy") == "Always"]
            for container in self.init:
                self._launch(container, env_dirs)
                if container in sidecars:
                    continue
                self._wait(container)
                if container.exit_code != 0:
                    self._finish("Failed", sidecars)
                    return
            for container in self.main:
                self._launch(container, env_dirs)
            self._report("Running")
            for container in self.main:
                self._wait(container)
            failed = any(c.exit_code != 0 for c in self.main)
            self._finish("Failed" if failed else "Succeeded", sidecars)
        except _StoppedError:
            return
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:  # 404: the pod is gone, nothing to report to
                log.warning("pod %s/%s: %s %s", self.namespace, self.name, exc.status, exc.body)
            self._stop.set()

    def _finish(self, phase: str, sidecars: list[Container]) -> None:
        for container in sidecars:
            _kill(container, 5.0)
        if not self._stop.is_set():
            self._report(phase)

    def _wait(self, container: Container) -> None:
        if container.process is not None:
            container.process.wait()
            container.finished_at = _now()

    def _prepare_volumes(self) -> dict[str, Path]:
        """Every volume's directory; retried while one cannot be set up (see the module)."""
        delay, reported = MOUNT_RETRY_FIRST, set()
        while True:
            try:
                dirs = self._materialise()
            except _volumes.MountError as exc:
                if str(exc) not in reported:
                    reported.add(str(exc))
                    self._report("Pending")
                    self._event("FailedMount", str(exc))
                if self._stop.wait(delay):
                    raise _StoppedError from exc
                delay = min(delay * 2, MOUNT_RETRY_MAX)
                continue
            if self.init:
                for container in self.main:
                    container.waiting = "PodInitializing"
            return dirs

    def _materialise(self) -> dict[str, Path]:
        dirs: dict[str, Path] = {}
        for volume in self.pod["spec"].get("volumes", []):
            path = self.workdir / "volumes" / volume["name"]
            _volumes.materialise(self.core, self.pod, volume, path)
            dirs[volume["name"]] = path
        return dirs

    def _event(self, reason: str, message: str) -> None:
        """A Warning Event about the pod, as the kubelet's event recorder writes it."""
        node, stamp = self.pod["spec"].get("nodeName", ""), _now()
        involved = {"apiVersion": "v1", "kind": "Pod", "namespace": self.namespace}
        involved.update(name=self.name, uid=self.pod["metadata"].get("uid", ""))
        body = {
            "metadata": {"generateName": f"{self.name}."},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": "Warning",
            "source": {"component": "kubelet", "host": node},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": "kubelet",
            "reportingInstance": node,
        }
        try:
            self.core.create_namespaced_event(self.namespace, body)
        except kubernetes.client.ApiException as exc:  # e.g. the namespace is terminating
            log.warning(
                "pod %s/%s: event %s not recorded: %s",
                self.namespace,
                self.name,
                reason,
                exc.status,
            )

    def _launch(self, container: Container, dirs: dict[str, Path]) -> None:
        if self._stop.is_set():
            container.error = "pod is being deleted"
            return
        try:
            argv = _images.argv(container.spec, self.images)
            env = self._env(container.spec, dirs)
        except (_images.ImageError, kubernetes.client.ApiException) as exc:
            container.error = str(exc)
            return
        cwd = env.get("K8SCLAW_WORKSPACE_DIR") or str(self.workdir)
        with container.log.open("ab") as log:
            container.process = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        container.started_at = _now()

    def _env(self, spec: Obj, dirs: dict[str, Path]) -> dict[str, str]:
        env = {k: os.environ[k] for k in _BASE_ENV if k in os.environ}
        env.update(HOSTNAME=self.name, HOME=str(self.workdir))
        for source in spec.get("envFrom", []):
            env.update(self._env_from(source))
        for item in spec.get("env", []):
            env[item["name"]] = self._env_value(item)
        # Mount rewrites win over the pod's own K8SCLAW_*_DIR=/ipc style values: on this
        # "node" the mount path is the per-pod directory, not the in-container path.
        for mount in spec.get("volumeMounts", []):
            var = _images.MOUNT_ENV.get(mount["mountPath"].rstrip("/") or "/")
            if var and mount["name"] in dirs:
                env[var] = str(dirs[mount["name"]] / mount.get("subPath", ""))
        if "K8SCLAW_TMP_DIR" in env:
            env.setdefault("TMPDIR", env["K8SCLAW_TMP_DIR"])
        return env

    def _env_from(self, source: Obj) -> dict[str, str]:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = (
                self.core.read_namespaced_config_map(
                    source["configMapRef"]["name"], self.namespace
                ).data
                or {}
            )
            return {prefix + k: v for k, v in data.items()}
        secret = (
            self.core.read_namespaced_secret(source["secretRef"]["name"], self.namespace).data or {}
        )
        return {prefix + k: base64.b64decode(v).decode() for k, v in secret.items()}

    def _env_value(self, item: Obj) -> str:
        if "value" in item or "valueFrom" not in item:
            return str(item.get("value", ""))
        source = item["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            data = self.core.read_namespaced_secret(ref["name"], self.namespace).data or {}
            return base64.b64decode(data[ref["key"]]).decode()
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            return str(
                (self.core.read_namespaced_config_map(ref["name"], self.namespace).data or {})[
                    ref["key"]
                ]
            )
        path = source.get("fieldRef", {}).get("fieldPath", "")
        fields = {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "metadata.uid": self.pod["metadata"]["uid"],
            "spec.nodeName": self.pod["spec"].get("nodeName", ""),
            "spec.serviceAccountName": self.pod["spec"].get("serviceAccountName", ""),
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
        }
        return fields.get(path, "")

    def _report(self, phase: str) -> None:
        running = phase == "Running"
        conditions = [
            {"type": t, "status": "True" if ok else "False", "lastTransitionTime": _now()}
            for t, ok in (
                ("PodScheduled", True),
                ("Initialized", phase != "Pending"),
                ("ContainersReady", running),
                ("Ready", running),
            )
        ]
        status = {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.pod.get("status", {}).get("startTime") or _now(),
            "conditions": conditions,
            "containerStatuses": [c.status() for c in self.main],
        }
        if self.init:
            status["initContainerStatuses"] = [c.status() for c in self.init]
        self.pod["status"] = status
        self.core.patch_namespaced_pod_status(self.name, self.namespace, {"status": status})


class _StoppedError(Exception):
    """The pod was deleted while its volumes were still being set up."""


def _kill(container: Container, grace: float) -> None:
    process = container.process
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()
