"""One version everywhere: the three distributions, the protocol and the CLI."""

from __future__ import annotations

import tomllib
from pathlib import Path

import k8sclaw
import k8sclaw_controllers
import k8sclaw_sidecar
from k8sclaw_protocol import names

ROOT = Path(__file__).resolve().parents[2]


def test_versions_agree() -> None:
    versions = {
        path: tomllib.loads((ROOT / path).read_text())["project"]["version"]
        for path in (
            "pyproject.toml",
            "protocol/pyproject.toml",
            "controllers/pyproject.toml",
            "sidecar/pyproject.toml",
        )
    }
    assert set(versions.values()) == {names.VERSION}, versions
    assert k8sclaw.__version__ == k8sclaw_controllers.__version__ == k8sclaw_sidecar.__version__
    assert k8sclaw.__version__ == names.VERSION


def test_images_are_pinned_to_the_release() -> None:
    assert names.image(names.IMAGE_AGENT_RUNNER) == f"ghcr.io/k8sclaw/agent-runner:{names.VERSION}"
    assert ":latest" not in names.image(names.IMAGE_SANDBOX)
