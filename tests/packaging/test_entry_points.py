"""Every console script of SPEC §1 is installed and answers `--help`.

The placeholder that exited 3 for unbuilt components is gone with the API server: nothing
installed or advertised runs a stub (the channel program is not an entry point yet).
"""

from __future__ import annotations

import shutil
import subprocess

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


@pytest.mark.parametrize("name", IMPLEMENTED)
def test_console_script_is_installed(name: str) -> None:
    path = shutil.which(name)
    assert path, f"{name} is not on PATH; run `uv sync --all-packages`"
    result = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "not implemented yet" not in result.stdout + result.stderr
