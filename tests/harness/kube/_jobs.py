"""A minimal Job controller: Job → Pod(s), Job status from the Pods' phases.

Pods are named `<job>-<5 random chars>`, carry the `job-name`/`controller-uid` labels the
Job's template was defaulted with, and are owned by the Job. `backoffLimit`,
`activeDeadlineSeconds`, `suspend` and `ttlSecondsAfterFinished` are honoured;
conditions are those of batch/v1 in Kubernetes 1.32 (SuccessCriteriaMet/Complete,
FailureTarget/Failed). Not modelled: indexed jobs, pod failure policy, the
`batch.kubernetes.io/job-tracking` pod finalizer.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from typing import Any

from tests.harness.kube import _errors
from tests.harness.kube._cluster import Cluster, now
from tests.harness.kube._controller import ClientRateLimit, Controller
from tests.harness.kube._store import Event, Obj, clone
from tests.harness.kube._types import ResourceType

JOBS = ("batch", "jobs")
PODS = ("", "pods")


def _owner_job(pod: Obj) -> str | None:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "Job" and ref.get("controller"):
            return str(ref["name"])
    return None


def _condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    stamp = now()
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp,
    }


def _finished(job: Obj) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in job.get("status", {}).get("conditions", [])
    )


class JobController(Controller):
    """Reconciles one Job at a time whenever it or one of its Pods changes.

    Its writes (pods, Job status) go through `limit`, as kube-controller-manager's go
    through its client's rate limiter.
    """

    def __init__(self, cluster: Cluster, limit: ClientRateLimit | None = None) -> None:
        super().__init__(cluster, limit)

    def wants(self, event: Event) -> bool:
        if event.key == JOBS:
            return event.type != "DELETED"
        return event.key == PODS and _owner_job(event.obj) is not None

    def _types(self) -> tuple[ResourceType, ResourceType]:
        jobs = self.cluster.registry.find("batch", "v1", "jobs")
        pods = self.cluster.registry.find("", "v1", "pods")
        assert jobs is not None and pods is not None
        return jobs, pods

    async def handle(self, event: Event) -> None:
        name = event.obj["metadata"]["name"] if event.key == JOBS else _owner_job(event.obj)
        namespace = event.namespace
        jobs, _ = self._types()
        job = self.cluster.store.peek(jobs.key, namespace, name or "")  # read-only
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        try:
            await self._reconcile(job)
        except _errors.ApiError as exc:
            if exc.code != 409:
                raise
            asyncio.get_running_loop().call_later(0.05, self._queue.put_nowait, event)

    async def _reconcile(self, job: Obj) -> None:
        jobs, pods_type = self._types()
        meta, spec = job["metadata"], job["spec"]
        # The owner index, like kube-controller-manager's pod informer (read-only objects).
        pods = [p for key, p in self.cluster.store.dependents(meta["uid"]) if key == pods_type.key]
        phases = [p.get("status", {}).get("phase") for p in pods]
        succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
        active = [
            p
            for p in pods
            if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")
        ]
        status = clone(job.get("status") or {})
        status.update(
            {
                "succeeded": succeeded,
                "failed": failed,
                "active": len(active),
                "ready": 0,
                "terminating": 0,
                "uncountedTerminatedPods": {},
            }
        )
        for key in ("succeeded", "failed", "active"):
            if not status[key]:
                status.pop(key)
        if not _finished(job) and not spec.get("suspend"):
            status.setdefault("startTime", now())
            await self._progress(job, status, succeeded, failed, active)
        if status != job.get("status"):
            body = {"metadata": meta, "status": status}
            await self.limit.take()
            updated = await self.cluster.update(
                jobs, meta["namespace"], meta["name"], body, subresource="status"
            )
            self._schedule_ttl(updated)

    async def _progress(
        self, job: Obj, status: Obj, succeeded: int, failed: int, active: list[Obj]
    ) -> None:
        spec = job["spec"]
        conditions = status.setdefault("conditions", [])
        deadline = spec.get("activeDeadlineSeconds")
        if succeeded >= spec.get("completions", 1):
            conditions += [
                _condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ),
                _condition(
                    "Complete", "CompletionsReached", "Reached expected number of succeeded pods"
                ),
            ]
            status["completionTime"] = now()
            status.pop("active", None)
        elif failed > spec.get("backoffLimit", 6):
            await self._fail(
                job,
                status,
                active,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
        elif deadline is not None and _elapsed(status["startTime"]) >= deadline:
            await self._fail(
                job,
                status,
                active,
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            )
        else:
            missing = min(spec.get("parallelism", 1), spec.get("completions", 1) - succeeded) - len(
                active
            )
            for _ in range(max(missing, 0)):
                await self._create_pod(job)
                status["active"] = status.get("active", 0) + 1
            if deadline is not None:
                delay = deadline - _elapsed(status["startTime"]) + 0.05
                asyncio.get_running_loop().call_later(delay, self._requeue, job)
        if not conditions:
            status.pop("conditions")

    async def _fail(
        self, job: Obj, status: Obj, active: list[Obj], reason: str, message: str
    ) -> None:
        _, pods_type = self._types()
        for pod in active:
            await self.limit.take()
            await self.cluster.delete(
                pods_type, pod["metadata"]["namespace"], pod["metadata"]["name"], grace=0
            )
        status["conditions"] += [
            _condition("FailureTarget", reason, message),
            _condition("Failed", reason, message),
        ]
        status.pop("active", None)

    async def _create_pod(self, job: Obj) -> None:
        _, pods_type = self._types()
        meta, template = job["metadata"], clone(job["spec"]["template"])
        pod_meta = template.get("metadata") or {}
        pod_meta.pop("name", None)
        pod_meta["generateName"] = f"{meta['name']}-"
        pod_meta["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        body = {"metadata": pod_meta, "spec": template["spec"]}  # built from our own copy
        await self.limit.take()
        await self.cluster.create(pods_type, meta["namespace"], body, owned=True)

    def _requeue(self, job: Obj) -> None:
        self._queue.put_nowait(Event(0, "MODIFIED", JOBS, job))

    def _schedule_ttl(self, job: Obj) -> None:
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is None or not _finished(job):
            return
        jobs, _ = self._types()
        meta = job["metadata"]

        async def expire() -> None:
            await self.limit.take()
            with contextlib.suppress(_errors.ApiError):
                await self.cluster.delete(
                    jobs,
                    meta["namespace"],
                    meta["name"],
                    propagation="Foreground",
                    preconditions={"uid": meta["uid"]},
                )

        loop = asyncio.get_running_loop()
        loop.call_later(ttl, lambda: loop.create_task(expire()))


def _elapsed(stamp: str) -> float:
    started = datetime.datetime.fromisoformat(stamp)  # RFC 3339 with "Z": UTC
    return (datetime.datetime.now(datetime.UTC) - started).total_seconds()
