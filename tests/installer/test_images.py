"""Dockerfiles: one per in-cluster component on one shared runtime recipe (slim, non-root,
read-only friendly), built by images/build.sh, and the ipc-bridge image installs nothing of
the UI or the Kubernetes client."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from k8sclaw_protocol import names

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {
    names.IMAGE_CONTROLLER: ("controllers", "k8sclaw-controller"),
    names.IMAGE_APISERVER: ("controllers", "k8sclaw-apiserver"),
    names.IMAGE_WEBHOOK: ("controllers", "k8sclaw-webhook"),
    names.IMAGE_IPC_BRIDGE: ("sidecar", "k8sclaw-ipc-bridge"),
    names.IMAGE_AGENT_RUNNER: ("sidecar", "k8sclaw-agent"),
    names.IMAGE_SANDBOX: ("sidecar", "k8sclaw-sandbox"),
}


RUNTIME = (ROOT / "images/runtime/Dockerfile").read_text()
BUILD = (ROOT / "images/build.sh").read_text()


def _dockerfile(repository: str) -> str:
    return (ROOT / "images" / repository.rsplit("/", 1)[-1] / "Dockerfile").read_text()


def _runtime_of(text: str) -> str:
    """The distribution a component image is built on (its FROM runtime-<dist>)."""
    match = re.search(r"^FROM \$\{REGISTRY\}/runtime-(\w+):\$\{VERSION\}$", text, re.M)
    assert match, "a component image starts FROM its runtime image"
    return f"k8sclaw-{match.group(1)}"


def test_the_runtime_recipe_is_slim_non_root_and_read_only_friendly() -> None:
    assert re.search(r"^FROM python:\$\{PYTHON_VERSION\}-slim$", RUNTIME, re.M)
    user = re.findall(r"^USER (\d+):(\d+)$", RUNTIME, re.M)
    assert user and user[-1] != ("0", "0")
    assert "readOnlyRootFilesystem" in RUNTIME and "HOME=/tmp" in RUNTIME
    assert "--package ${PACKAGE} " in RUNTIME


@pytest.mark.parametrize(
    "repository", [*IMAGES, names.IMAGE_CHANNEL], ids=lambda r: r.rsplit("/", 1)[-1]
)
def test_component_image_builds_on_a_runtime_and_stays_non_root(repository: str) -> None:
    text = _dockerfile(repository)
    dist = _runtime_of(text)
    built = re.search(r"^for dist in ([\w ]+); do$", BUILD, re.M)
    assert built and dist.removeprefix("k8sclaw-") in built.group(1).split()  # runtime is built
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert not users or users[-1] == "65532:65532"  # a root step (sandbox apt) switches back


@pytest.mark.parametrize(
    ("repository", "entry"), list(IMAGES.items()), ids=lambda v: str(v).rsplit("/", 1)[-1]
)
def test_entrypoint_is_a_console_script_of_the_installed_distribution(
    repository: str, entry: tuple[str, str]
) -> None:
    folder, script = entry
    scripts = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]["scripts"]
    assert script in scripts
    text = _dockerfile(repository)
    assert f'ENTRYPOINT ["{script}"]' in text
    dist = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]["name"]
    assert _runtime_of(text) == dist


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv not on PATH")
def test_ipc_bridge_image_installs_no_ui_and_no_kubernetes_client() -> None:
    dist = _runtime_of(_dockerfile(names.IMAGE_IPC_BRIDGE))
    command = re.search(r"uv export (.*?) -o", RUNTIME)
    assert command is not None
    out = subprocess.run(
        ["uv", "export", *command.group(1).replace("${PACKAGE}", dist).split()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pinned = {line.split("==")[0] for line in out.splitlines() if "==" in line}
    assert {"nats-py", "pydantic", "watchfiles"} <= pinned
    assert not pinned & {"textual", "rich", "click", "questionary", "kubernetes", "kopf"}
