"""Suite-wide hygiene: no test reads the developer's kubeconfig or K8SCLAW_* settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Every tests/harness/*_fixtures.py is a fixture plugin (kube, kubelet, nats, postgres, llm).
pytest_plugins = sorted(
    f"tests.harness.{p.stem}" for p in (Path(__file__).parent / "harness").glob("*_fixtures.py")
)

_KEEP = {"K8SCLAW_TEST_KUBECONFIG", "K8SCLAW_TEST_LOCAL_APISERVER"}


@pytest.fixture(autouse=True)
def _clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    for name in list(os.environ):
        if (name.startswith("K8SCLAW_") and name not in _KEEP) or name == "KUBECONFIG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path_factory.mktemp("kube") / "no-config"))
    yield
