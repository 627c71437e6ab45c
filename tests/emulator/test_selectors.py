"""Label and field selectors on lists (and the 400 for unsupported fields)."""

from __future__ import annotations

import kubernetes
import pytest

from tests.emulator._util import core, unique
from tests.harness.kube import KubeEnv


@pytest.fixture
def maps(kube: KubeEnv) -> dict[str, str]:
    made = {}
    for key, labels in {
        "a": {"app": "x", "tier": "web"},
        "b": {"app": "y"},
        "c": {"tier": "db"},
    }.items():
        name = unique(key)
        core(kube).create_namespaced_config_map(
            kube.namespace, {"metadata": {"name": name, "labels": labels}}
        )
        made[key] = name
    return made


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=x", {"a"}),
        ("app==x", {"a"}),
        ("app!=x", {"b", "c"}),
        ("app", {"a", "b"}),
        ("!app", {"c"}),
        ("app in (x,y)", {"a", "b"}),
        ("app notin (x)", {"b", "c"}),
        ("app=x,tier=web", {"a"}),
    ],
    ids=str,
)
def test_label_selectors(
    kube: KubeEnv, maps: dict[str, str], selector: str, expected: set[str]
) -> None:
    items = core(kube).list_namespaced_config_map(kube.namespace, label_selector=selector).items
    got = {k for k, name in maps.items() if name in {i.metadata.name for i in items}}
    assert got == expected


def test_field_selector_by_name(kube: KubeEnv, maps: dict[str, str]) -> None:
    items = (
        core(kube)
        .list_namespaced_config_map(kube.namespace, field_selector=f"metadata.name={maps['b']}")
        .items
    )
    assert [i.metadata.name for i in items] == [maps["b"]]


def test_pod_field_selectors(kube: KubeEnv) -> None:
    pod = {
        "metadata": {"name": unique("pod")},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    core(kube).create_namespaced_pod(kube.namespace, pod)
    pending = core(kube).list_namespaced_pod(
        kube.namespace, field_selector="status.phase=Pending,spec.nodeName="
    )
    assert [p.metadata.name for p in pending.items] == [pod["metadata"]["name"]]


def test_unsupported_field_selector_is_bad_request(kube: KubeEnv) -> None:
    with pytest.raises(kubernetes.client.ApiException) as info:
        core(kube).list_namespaced_config_map(kube.namespace, field_selector="data.a=1")
    assert info.value.status == 400
