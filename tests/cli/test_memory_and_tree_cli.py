"""`k8sclaw memory show|edit|clear` and `k8sclaw runs get NAME --tree` against the harness
API (no controller needed)."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest
from click.testing import CliRunner, Result

from k8sclaw.cli import cli
from k8sclaw.render._tree import run_tree, tree_lines
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv

MEMORY = "# Memory\n\n- the user is Ada\n"


def k8sclaw(kube: KubeEnv, *args: str, **kw: Any) -> Result:
    argv = [*args, "-n", kube.namespace, "--kubeconfig", str(kube.kubeconfig)]
    return CliRunner().invoke(cli, argv, **kw)


def core(kube: KubeEnv) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(kube.api_client)


@pytest.fixture
def memory(kube: KubeEnv) -> KubeEnv:
    body = {"metadata": {"name": "alice-memory"}, "data": {names.MEMORY_KEY: MEMORY}}
    core(kube).create_namespaced_config_map(kube.namespace, body)
    return kube


def stored(kube: KubeEnv) -> str:
    data = core(kube).read_namespaced_config_map("alice-memory", kube.namespace).data
    return str(data[names.MEMORY_KEY])


def test_show_prints_the_memory_without_terminal_escapes(memory: KubeEnv) -> None:
    core(memory).patch_namespaced_config_map(
        "alice-memory", memory.namespace, {"data": {names.MEMORY_KEY: MEMORY + "\x1b[2Jx"}}
    )
    result = k8sclaw(memory, "memory", "show", "alice")
    assert result.exit_code == 0, result.output
    assert "- the user is Ada" in result.stdout and "\x1b" not in result.stdout


def test_edit_writes_back_what_the_editor_saved(
    memory: KubeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def editor(text: str, **_: Any) -> str:
        seen.append(text)
        return text + "- prefers tea\n"

    monkeypatch.setattr("click.edit", editor)
    result = k8sclaw(memory, "memory", "edit", "alice")
    assert result.exit_code == 0, result.output
    assert seen == [MEMORY] and stored(memory) == MEMORY + "- prefers tea\n"


def test_edit_never_overwrites_a_change_made_meanwhile(
    memory: KubeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    def editor(text: str, **_: Any) -> str:  # an agent's update lands while editing
        body = {"data": {names.MEMORY_KEY: "agent wrote this"}}
        core(memory).patch_namespaced_config_map("alice-memory", memory.namespace, body)
        return "mine"

    monkeypatch.setattr("click.edit", editor)
    result = k8sclaw(memory, "memory", "edit", "alice")
    assert result.exit_code != 0 and "changed while you edited" in result.output
    assert stored(memory) == "agent wrote this"


def test_clear_asks_then_resets_and_a_missing_memory_is_named(memory: KubeEnv) -> None:
    refused = k8sclaw(memory, "memory", "clear", "alice", input="n\n")
    assert refused.exit_code != 0 and stored(memory) == MEMORY
    assert k8sclaw(memory, "memory", "clear", "alice", "--yes").exit_code == 0
    assert "No memories yet." in stored(memory)
    missing = k8sclaw(memory, "memory", "show", "bob")
    assert missing.exit_code != 0 and "bob-memory" in missing.output


def _run(kube: KubeEnv, name: str, parent: str | None, depth: int = 1) -> None:
    spec: dict[str, Any] = {
        "instanceRef": "alice",
        "sessionKey": f"s-{name}",
        "task": "t",
        "model": {"model": "gpt-4o"},
    }
    if parent:
        spec["parent"] = {"runName": parent, "sessionKey": "s", "spawnDepth": depth}
    body = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "AgentRun",
        "metadata": {"name": name},
        "spec": spec,
    }
    kubernetes.client.CustomObjectsApi(kube.api_client).create_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, "agentruns", body
    )


def test_runs_get_tree_indents_children_under_their_parent(kube: KubeEnv) -> None:
    _run(kube, "boss", None)
    _run(kube, "boss-sub-b", "boss")
    _run(kube, "boss-sub-a", "boss")
    _run(kube, "boss-sub-a-sub-x", "boss-sub-a", depth=2)
    _run(kube, "other", None)
    result = k8sclaw(kube, "runs", "get", "boss", "--tree")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "boss                    Pending",
        "└─ boss-sub-a           Pending",
        "   └─ boss-sub-a-sub-x  Pending",
        "└─ boss-sub-b           Pending",
    ]
    missing = k8sclaw(kube, "runs", "get", "nobody", "--tree")
    assert missing.exit_code != 0 and 'agentrun "nobody" not found' in missing.output
    plain = k8sclaw(kube, "runs", "get", "boss", "-o", "name")
    assert plain.exit_code == 0 and plain.stdout.strip() == "agentrun/boss"


def test_a_parent_loop_cannot_hang_the_tree() -> None:
    rows = run_tree("a", [("a", "b", "Running"), ("b", "a", "Running")])
    assert [name for _, name, _ in rows] == ["a", "b"]
    assert tree_lines(rows) == ["a     Running", "└─ b  Running"]
