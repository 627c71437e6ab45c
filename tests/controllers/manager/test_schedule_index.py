"""The schedule-run index: owner uid decides, watch events win over the prime LIST."""

from __future__ import annotations

from typing import Any

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.manager._schedindex import ScheduleRuns
from tests.controllers.manager._harness import create, instance_body, run_body
from tests.harness.kube import KubeEnv

Body = dict[str, Any]


def scheduled(name: str, uid: str, owner: str = "a", *, controller: bool = True) -> Body:
    body = run_body(name)
    body["metadata"]["labels"]["k8sclaw.io/schedule"] = "s"
    body["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "k8sclaw.io/v1alpha1",
            "kind": "ClawSchedule",
            "name": owner,
            "uid": uid,
            "controller": controller,
        }
    ]
    return body


def schedule(name: str) -> Body:
    spec = {"instanceRef": "alice", "schedule": "0 0 1 1 *", "task": "t", "suspend": True}
    return {"metadata": {"name": name}, "spec": spec}


def names(runs: list[Body]) -> set[str]:
    return {r["metadata"]["name"] for r in runs}


async def test_prime_list_fills_by_owner_uid_and_never_resurrects(kube: KubeEnv) -> None:
    create(kube, "clawinstances", instance_body())
    # Real owners: the garbage collector deletes runs whose owner uid does not exist.
    uid_a, uid_b = (create(kube, "clawschedules", schedule(n))["metadata"]["uid"] for n in "ab")
    listed = create(kube, "agentruns", scheduled("listed", uid_a))
    deleted = create(kube, "agentruns", scheduled("deleted", uid_a))
    create(kube, "agentruns", scheduled("other-owner", uid_b, "b"))
    create(kube, "agentruns", scheduled("not-controller", uid_a, controller=False))
    labelled_only = run_body("labelled-only")
    labelled_only["metadata"]["labels"]["k8sclaw.io/schedule"] = "s"
    create(kube, "agentruns", labelled_only)

    index = ScheduleRuns()
    # Seen on the watch before the prime LIST answered: newer than the LIST's view.
    finished = {**listed, "status": {"phase": "Succeeded"}}
    index.observe(finished, "MODIFIED")
    index.observe({"metadata": deleted["metadata"]}, "DELETED")

    kube_client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    try:
        runs = await index.of(kube_client, kube.namespace, uid_a)
        assert names(runs) == {"listed"}  # not the deleted one, nor anyone else's
        [run] = runs
        assert run["status"]["phase"] == "Succeeded"  # the watch event won
        assert names(await index.of(kube_client, kube.namespace, uid_b)) == {"other-owner"}
        index.created(kube.namespace, uid_a, scheduled("fresh", uid_a))
        index.observe({"metadata": {"namespace": kube.namespace, "name": "listed"}}, "DELETED")
        assert names(await index.of(kube_client, kube.namespace, uid_a)) == {"fresh"}
    finally:
        await kube_client.close()
