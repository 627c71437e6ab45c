"""`e`: edit an object's YAML in $EDITOR and replace it on the server (kubectl edit),
against the harness API. The editor is a real program (a script set as $EDITOR); the
conflict case has it change the object on the server while the user "edits"."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from k8sclaw.tui import K8sClawApp
from k8sclaw_protocol import ClawInstance
from tests.harness.kube import KubeEnv
from tests.tui.test_cluster import connect, names_shown, seed_cluster, until

EDITOR = """#!{python}
import os, sys, yaml
path = sys.argv[1]
if os.environ.get("MEANWHILE_KUBECONFIG"):  # someone else changes the object meanwhile
    import kubernetes
    client = kubernetes.config.new_client_from_config(os.environ["MEANWHILE_KUBECONFIG"])
    api = kubernetes.client.CustomObjectsApi(client)
    patch = {{"metadata": {{"labels": {{"changed-by": "someone-else"}}}}}}
    api.patch_namespaced_custom_object(
        "k8sclaw.io", "v1alpha1", os.environ["MEANWHILE_NS"], "clawinstances", "alpha", patch
    )
    client.close()
with open(path) as f:
    text = f.read()
if os.environ.get("EDIT_TO"):
    text = os.environ["EDIT_TO"]
else:
    data = yaml.safe_load(text)
    data["metadata"].setdefault("labels", {{}})["edited"] = "yes"
    text = yaml.safe_dump(data)
with open(path, "w") as f:
    f.write(text)
"""


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "editor"
    script.write_text(EDITOR.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the edit file goes
    return script


def _message(app: K8sClawApp) -> str:
    return str(app.query_one("#message").render())


async def _labels(kube: KubeEnv) -> dict[str, str]:
    api = connect(kube.kubeconfig)
    try:
        inst = await asyncio.to_thread(api.get, ClawInstance, "alpha", kube.namespace)
    finally:
        api.close()
    return dict(inst.metadata.labels or {})


async def test_e_applies_the_edited_yaml(kube: KubeEnv, editor: Path) -> None:
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    app = K8sClawApp(api, namespace=kube.namespace)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: names_shown(app) == ["alpha"], "seeded instance")
        await pilot.press("e")
        await until(pilot, lambda: "edited ClawInstance alpha" in _message(app), "applied")
        assert (await _labels(kube))["edited"] == "yes"
        assert not list(editor.parent.glob("k8sclaw-edit-*.yaml"))  # applied: file removed


async def test_e_refuses_when_the_object_changed_meanwhile(
    kube: KubeEnv, editor: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEANWHILE_KUBECONFIG", str(kube.kubeconfig))
    monkeypatch.setenv("MEANWHILE_NS", kube.namespace)
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    app = K8sClawApp(api, namespace=kube.namespace)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: names_shown(app) == ["alpha"], "seeded instance")
        await pilot.press("e")
        await until(pilot, lambda: "changed since you opened it" in _message(app), "conflict")
        labels = await _labels(kube)
        assert labels["changed-by"] == "someone-else" and "edited" not in labels
        [kept] = editor.parent.glob("k8sclaw-edit-*.yaml")
        assert str(kept) in _message(app)  # the user's edit is not lost
        assert "edited" in yaml.safe_load(kept.read_text())["metadata"]["labels"]


async def test_e_without_a_change_and_with_broken_yaml(
    kube: KubeEnv, editor: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    app = K8sClawApp(api, namespace=kube.namespace)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: names_shown(app) == ["alpha"], "seeded instance")
        monkeypatch.setenv("EDITOR", "true")  # quits without saving anything
        await pilot.press("e")
        assert "edit of alpha cancelled: no changes" in _message(app)
        monkeypatch.setenv("EDITOR", str(editor))
        monkeypatch.setenv("EDIT_TO", "metadata:\n  name: [unclosed\n")
        await pilot.press("e")
        assert "line 3" in _message(app) and "nothing applied" in _message(app)
        monkeypatch.setenv("EDITOR", "no-such-editor-anywhere")
        await pilot.press("e")
        assert "editor 'no-such-editor-anywhere' not found: set $EDITOR" in _message(app)
    assert "edited" not in await _labels(kube)
