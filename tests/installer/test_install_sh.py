"""install.sh (SPEC §14) for real: locally built wheels into a throwaway HOME, then
`k8sclaw version` from the PATH it set up; a failed install leaves nothing behind."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from k8sclaw import __version__

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv to build wheels")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        ["uv", "build", "--all-packages", "--wheel", "-q", "-o", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out


def _run(home: Path, source: str) -> subprocess.CompletedProcess[str]:
    python_dir = Path(shutil.which("python3") or "/usr/bin/python3").parent
    env = {
        "HOME": str(home),
        "PATH": f"{home}/.local/bin:/usr/bin:/bin:{python_dir}",
        "K8SCLAW_INSTALL_SOURCE": source,
        "K8SCLAW_BIN_DIR": str(home / ".local" / "bin"),
    }
    return subprocess.run(
        ["sh", str(ROOT / "install.sh")], env=env, capture_output=True, text=True, timeout=280
    )


def test_installs_from_local_wheels_and_runs(wheels: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = _run(home, str(wheels))
    assert result.returncode == 0, result.stderr
    assert "Next: k8sclaw install" in result.stdout
    exe = home / ".local" / "bin" / "k8sclaw"
    assert exe.is_symlink()
    env = {"HOME": str(home), "PATH": f"{exe.parent}:/usr/bin:/bin"}
    version = subprocess.run(
        ["k8sclaw", "version"], env=env, capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith(f"k8sclaw {__version__} ")


def test_failed_install_leaves_nothing_half_installed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = _run(home, str(tmp_path / "no-such-index"))
    assert result.returncode != 0
    assert (
        result.stderr.strip().splitlines()[-1].startswith("k8sclaw install: pip could not install")
    )
    assert not (home / ".local" / "share" / "k8sclaw" / "venv").exists()
    assert not (home / ".local" / "bin" / "k8sclaw").exists()
