"""install.sh (SPEC §14) for real: locally built wheels into a throwaway HOME, then
`k8sclaw version` from the PATH it set up; a failed install leaves nothing behind; a
download cut short runs nothing; Ctrl-C (or TERM) during pip under dash keeps the
previous install and leaves no half-built venv (issue #13 item 13)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
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


SHELLS = [sh for sh in ("dash", "bash") if shutil.which(sh)]
DASH = shutil.which("dash") or shutil.which("sh")


def _env(home: Path, source: str) -> dict[str, str]:
    python_dir = Path(shutil.which("python3") or "/usr/bin/python3").parent
    return {
        "HOME": str(home),
        "PATH": f"{home}/.local/bin:/usr/bin:/bin:{python_dir}",
        "K8SCLAW_INSTALL_SOURCE": source,
        "K8SCLAW_BIN_DIR": str(home / ".local" / "bin"),
    }


def _run(home: Path, source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ROOT / "install.sh")],
        env=_env(home, source),
        capture_output=True,
        text=True,
        timeout=280,
    )


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _leftovers(home: Path) -> list[str]:
    """Entries of the install directory other than the `venv` link and what it points to."""
    base = home / ".local" / "share" / "k8sclaw"
    if not base.exists():
        return []
    live = os.readlink(base / "venv") if (base / "venv").is_symlink() else "venv"
    return sorted(p.name for p in base.iterdir() if p.name not in ("venv", live))


def test_installs_from_local_wheels_and_runs(wheels: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    legacy = home / ".local" / "share" / "k8sclaw" / "venv"  # an older install.sh's venv dir
    legacy.mkdir(parents=True)
    (legacy / "old-marker").write_text("old")
    result = _run(home, str(wheels))
    assert result.returncode == 0, result.stderr
    assert "Next: k8sclaw install" in result.stdout
    assert legacy.is_symlink() and os.readlink(legacy).startswith("venv.")
    assert legacy.stat().st_mode & 0o777 == 0o777 & ~_umask()  # as a venv made in place
    assert not (legacy / "old-marker").exists()  # replaced, and removed after success
    assert _leftovers(home) == []
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


def _cuts(script: bytes) -> list[int]:
    """Byte offsets to cut the download at: spread over the file, plus the edges of `main`'s
    definition and of the last line (up to `ma`: a cut after `main` has the whole body)."""
    last = script.rstrip(b"\n").rfind(b"\n") + 1
    assert script[last:] == b'main "$@"\n'
    spread = [last * n // 12 for n in range(1, 12)]
    start = script.find(b"main() {")
    return sorted({*spread, start, start + 9, last - 1, last, last + 1, last + 2})


@pytest.mark.parametrize("shell", SHELLS)
def test_a_truncated_download_runs_nothing(shell: str, tmp_path: Path) -> None:
    script = (ROOT / "install.sh").read_bytes()
    for cut in _cuts(script):
        home = tmp_path / f"home-{cut}"
        home.mkdir()
        result = subprocess.run(
            [shell],  # as `curl ... | sh`: the script on stdin
            input=script[:cut],
            env=_env(home, str(tmp_path / "no-such-index")),
            capture_output=True,
            timeout=120,
        )
        assert list(home.iterdir()) == [], (cut, result)
        assert b"Installing" not in result.stdout, cut
        assert result.returncode != 0 or not result.stdout.strip(), (cut, result)
    # ... while the whole script, same environment, does act (and fails on the index).
    whole = subprocess.run(
        [shell],
        input=script,
        env=_env(tmp_path / "home-whole", str(tmp_path / "no-such-index")),
        capture_output=True,
        timeout=280,
    )
    assert b"Installing" in whole.stdout and whole.returncode != 0


def _previous_install(home: Path) -> Path:
    """An installation as this script leaves it: `venv` -> `venv.prev` holding a marker."""
    base = home / ".local" / "share" / "k8sclaw"
    (base / "venv.prev" / "bin").mkdir(parents=True)
    (base / "venv.prev" / "marker").write_text("previous")
    (base / "venv").symlink_to("venv.prev")
    return base


@pytest.mark.skipif(DASH is None, reason="needs dash (or a POSIX sh)")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_signal_during_pip_keeps_the_previous_install(sig: int, tmp_path: Path) -> None:
    home = tmp_path / "home"
    base = _previous_install(home)
    index = socket.create_server(("127.0.0.1", 0))  # accepts, never answers: pip waits
    index.settimeout(240)
    url = f"http://127.0.0.1:{index.getsockname()[1]}/simple/"
    assert DASH is not None
    proc = subprocess.Popen(
        [DASH, str(ROOT / "install.sh")],
        env=_env(home, url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, signalled as a terminal does
    )
    try:
        conn, _ = index.accept()  # pip is fetching: the venv is half built
        building = [p.name for p in base.iterdir() if p.name not in ("venv", "venv.prev")]
        assert len(building) == 1 and building[0].startswith("venv."), building
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=120)
        conn.close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        index.close()
    assert proc.returncode != 0
    assert (base / "venv" / "marker").read_text() == "previous"
    assert os.readlink(base / "venv") == "venv.prev"
    assert sorted(p.name for p in base.iterdir()) == ["venv", "venv.prev"], err
    assert not (home / ".local" / "bin" / "k8sclaw").exists()
