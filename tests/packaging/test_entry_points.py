"""Every console script of SPEC §1 is installed; placeholders say so and exit non-zero."""

from __future__ import annotations

import importlib
import inspect
import shutil
import subprocess
from importlib import metadata

import pytest

IMPLEMENTED = (
    "k8sclaw",
    "k8sclaw-controller",
    "k8sclaw-webhook",
    "k8sclaw-ipc-bridge",
    "k8sclaw-agent",
    "k8sclaw-sandbox",
    "k8sclaw-apiserver",
)
PLACEHOLDERS: dict[str, str] = {}


@pytest.mark.parametrize("name", [*IMPLEMENTED, *PLACEHOLDERS])
def test_console_script_is_installed(name: str) -> None:
    path = shutil.which(name)
    assert path, f"{name} is not on PATH; run `uv sync --all-packages`"
    result = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _is_placeholder(name: str) -> bool:
    (entry,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == name]
    module = importlib.import_module(entry.module)
    return "placeholder_main" in inspect.getsource(module)


@pytest.mark.parametrize(("name", "issue"), sorted(PLACEHOLDERS.items()))
def test_placeholder_says_not_implemented(name: str, issue: str) -> None:
    assert _is_placeholder(name), f"{name} is implemented: move it to IMPLEMENTED"
    path = shutil.which(name)
    assert path
    result = subprocess.run([path], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert f"not implemented yet (tracked in {issue})" in result.stderr


@pytest.mark.parametrize("name", IMPLEMENTED)
def test_implemented_scripts_are_not_placeholders(name: str) -> None:
    assert not _is_placeholder(name), f"{name} still runs the placeholder"
