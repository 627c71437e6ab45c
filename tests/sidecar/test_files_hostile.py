"""File tools against a hostile workspace (issue #13 item 4): a concurrent
directory/symlink swap loop never makes them return or write bytes outside the
workspace; FIFOs never block; reads and listings are capped; any path string, however
odd, either fails with a ToolError or stays inside."""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8sclaw_protocol import safefs
from k8sclaw_sidecar._settings import PodPaths
from k8sclaw_sidecar.agent import _files
from k8sclaw_sidecar.agent._files import ToolError

SECRET = b"SECRET-API-KEY-0123456789"
SWAP_SECONDS = 3.0


@pytest.fixture(params=["openat2", "walk"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "walk":
        monkeypatch.setattr(safefs._openat2, "available", False)
    elif not safefs._openat2.available:
        pytest.skip("openat2 is not available on this kernel")
    return str(request.param)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside every mount holding the 'secret' (stands in for /proc/self)."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "f.txt").write_bytes(SECRET)
    (out / "environ").write_bytes(SECRET)
    return out


_libc = ctypes.CDLL(None, use_errno=True)
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> None:
    """renameat2(RENAME_EXCHANGE): both names always exist, their targets swap atomically."""
    at_fdcwd = -100
    if _libc.renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), _RENAME_EXCHANGE) != 0:
        raise OSError(ctypes.get_errno(), "renameat2")


def _swap_loop(workspace: Path, stop: threading.Event) -> None:
    """Swap `workspace/d` between a real directory and a symlink to `outside`, and
    `workspace/f.txt` between a file and a symlink to the secret, until `stop`."""
    while not stop.is_set():
        _exchange(workspace / "d", workspace / "d.other")
        _exchange(workspace / "f.txt", workspace / "f.other")


def _prepare_swap(workspace: Path, outside: Path) -> None:
    (workspace / "d").mkdir()
    (workspace / "d" / "f.txt").write_bytes(b"inside")
    os.symlink(outside, workspace / "d.other")
    (workspace / "f.txt").write_bytes(b"inside")
    os.symlink(outside / "f.txt", workspace / "f.other")


def test_swap_loop_never_leaks_outside_bytes(pod: PodPaths, outside: Path, mode: str) -> None:
    stop = threading.Event()
    _prepare_swap(pod.workspace, outside)
    swapper = threading.Thread(target=_swap_loop, args=(pod.workspace, stop), daemon=True)
    swapper.start()
    reads = inside = 0
    deadline = time.monotonic() + SWAP_SECONDS
    try:
        while time.monotonic() < deadline:
            for path in ("d/f.txt", "f.txt", "/workspace/d/environ", "d"):
                reads += 1
                try:
                    got = (
                        _files.list_directory(pod, path)
                        if path == "d"
                        else _files.read_file(pod, path)
                    )
                except ToolError:
                    continue
                assert SECRET.decode() not in got and "environ" not in got
                inside += got == "inside"
            with contextlib.suppress(ToolError):
                _files.write_file(pod, "d/written.txt", "x")
    finally:
        stop.set()
        swapper.join(10)
    assert not (outside / "written.txt").exists()
    assert reads > 100 and inside > 0  # the race was really run, and reads did succeed


def test_fifo_is_refused_without_hanging(pod: PodPaths, mode: str) -> None:
    os.mkfifo(pod.workspace / "pipe")
    with pytest.raises(ToolError, match="not a regular file"):
        _files.read_file(pod, "pipe")
    with pytest.raises(ToolError):
        _files.write_file(pod, "pipe", "x")  # no reader: refused, not blocked


def test_read_is_capped_in_bytes_before_decoding(pod: PodPaths, mode: str) -> None:
    (pod.workspace / "big").write_bytes("é".encode() * _files.READ_CAP)
    text = _files.read_file(pod, "big")
    assert text.endswith(f"(truncated at {_files.READ_CAP} bytes)")
    assert len(text.encode()) < _files.READ_CAP + 100


def test_listing_is_capped_in_entries(pod: PodPaths, mode: str) -> None:
    many = pod.workspace / "many"
    many.mkdir()
    for i in range(_files.LIST_CAP + 5):
        (many / f"f{i}").touch()
    lines = _files.list_directory(pod, "many").splitlines()
    assert len(lines) == _files.LIST_CAP + 1
    assert lines[-1] == f"... (listing stopped at {_files.LIST_CAP} entries)"


def test_write_does_not_follow_a_symlink(pod: PodPaths, outside: Path, mode: str) -> None:
    os.symlink(outside / "f.txt", pod.workspace / "out.txt")
    os.symlink(outside, pod.workspace / "outdir")
    for path in ("out.txt", "outdir/new.txt"):
        with pytest.raises(ToolError, match="refused"):
            _files.write_file(pod, path, "overwritten")
    assert (outside / "f.txt").read_bytes() == SECRET
    assert not (outside / "new.txt").exists()


def test_skills_configmap_symlinks_are_readable_but_confined(pod: PodPaths, outside: Path) -> None:
    """The kubelet's ConfigMap layout: key -> ..data/key, ..data -> ..<timestamp>."""
    stamp = pod.skills / "..2026_01_01"
    stamp.mkdir()
    (stamp / "skill.md").write_text("use the force")
    os.symlink(stamp.name, pod.skills / "..data")
    os.symlink("..data/skill.md", pod.skills / "skill.md")
    os.symlink(outside / "f.txt", pod.skills / "evil.md")
    assert _files.read_file(pod, "/skills/skill.md") == "use the force"
    with pytest.raises(ToolError, match="escapes"):
        _files.read_file(pod, "/skills/evil.md")


_PART = st.sampled_from(["..", ".", "", "d", "f.txt", "link", "sub", "environ", "é", "a b"])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prefix=st.sampled_from(["", "/workspace/", "/tmp/", "/skills/", "/", "/etc/", "/ipc/"]),
    parts=st.lists(_PART, max_size=6),
)
def test_any_path_fails_cleanly_or_stays_inside(
    pod: PodPaths, outside: Path, prefix: str, parts: list[str]
) -> None:
    if not (pod.workspace / "link").exists():
        os.symlink(outside, pod.workspace / "link")
        (pod.workspace / "sub").mkdir()
        (pod.workspace / "sub" / "f.txt").write_text("inside")
        os.symlink(outside / "f.txt", pod.tmp / "f.txt")
    path = prefix + "/".join(parts)
    for call in (_files.read_file, _files.list_directory):
        try:
            got = call(pod, path)
        except ToolError:
            continue
        assert SECRET.decode() not in got
    with contextlib.suppress(ToolError):
        _files.write_file(pod, path + "/w.txt" if parts else path, "w")
    assert sorted(p.name for p in outside.iterdir()) == ["environ", "f.txt"]
