"""The round trip later issues rely on: CRDs applied, create, watch, status patch,
finalizer-held delete, owner-reference garbage collection."""

from __future__ import annotations

import kubernetes

from tests.emulator._util import (
    GROUP,
    PLURAL,
    VERSION,
    agent_run,
    core,
    custom,
    unique,
    wait_for,
    wait_gone,
)
from tests.harness.kube import KubeEnv

FINALIZER = f"{GROUP}/test-finalizer"


def test_crds_are_established(kube: KubeEnv) -> None:
    api = kubernetes.client.ApiextensionsV1Api(kube.api_client)
    crd = api.read_custom_resource_definition(f"{PLURAL}.{GROUP}")
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"


def test_round_trip(kube: KubeEnv) -> None:
    api, ns, name = custom(kube), kube.namespace, unique("run")
    body = agent_run(name)
    body["metadata"]["finalizers"] = [FINALIZER]
    created = api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
    assert created["metadata"]["generation"] == 1

    seen = wait_for(
        api.list_namespaced_custom_object,
        lambda o: o["metadata"]["name"] == name,
        group=GROUP,
        version=VERSION,
        namespace=ns,
        plural=PLURAL,
    )
    assert seen["metadata"]["uid"] == created["metadata"]["uid"]

    patched = api.patch_namespaced_custom_object_status(
        GROUP, VERSION, ns, PLURAL, name, {"status": {"phase": "Running"}}
    )
    assert patched["status"]["phase"] == "Running"
    assert patched["metadata"]["generation"] == 1

    owned = unique("owned")
    core(kube).create_namespaced_config_map(
        ns,
        {
            "metadata": {
                "name": owned,
                "ownerReferences": [
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "AgentRun",
                        "name": name,
                        "uid": created["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            }
        },
    )

    held = api.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    assert held["metadata"]["deletionTimestamp"]
    still = api.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    assert still["metadata"]["finalizers"] == [FINALIZER]

    api.patch_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, name, {"metadata": {"finalizers": None}}
    )
    wait_gone(
        api.list_namespaced_custom_object,
        name,
        group=GROUP,
        version=VERSION,
        namespace=ns,
        plural=PLURAL,
    )
    wait_gone(core(kube).list_namespaced_config_map, owned, namespace=ns)
