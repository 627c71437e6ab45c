"""Opening beneath a root without following symlinks, with openat2 and with the walk."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from k8sclaw_protocol import IpcLayout, QuarantinedError, ResultMetrics, ipc, safefs


@pytest.fixture(params=["openat2", "walk"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test runs on both paths: the kernel's openat2 and the O_NOFOLLOW walk."""
    if request.param == "walk":
        monkeypatch.setattr(safefs._openat2, "available", False)
    elif not safefs._openat2.available:
        pytest.skip("openat2 is not available on this kernel")
    yield request.param


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.txt").write_bytes(b"inside")
    (tmp_path / "secret.txt").write_bytes(b"SECRET")
    os.symlink(tmp_path / "secret.txt", root / "a" / "link.txt")
    os.symlink("b", root / "a" / "dirlink")
    return root


def test_reads_a_regular_file(tree: Path, mode: str) -> None:
    assert safefs.read_regular(tree, "a/b/f.txt", 100) == (b"inside", False)
    assert safefs.read_regular(tree, "/a/./b/../b/f.txt", 100) == (b"inside", False)


def test_read_is_capped_in_bytes(tree: Path, mode: str) -> None:
    assert safefs.read_regular(tree, "a/b/f.txt", 3) == (b"ins", True)


@pytest.mark.parametrize("path", ["a/link.txt", "a/dirlink/f.txt"])
def test_symlinks_are_never_followed(tree: Path, mode: str, path: str) -> None:
    with pytest.raises(OSError):
        safefs.read_regular(tree, path, 100)


def test_dotdot_cannot_climb_above_the_root(tree: Path, mode: str) -> None:
    with pytest.raises(safefs.UnsafePathError, match="climbs above"):
        safefs.read_regular(tree, "a/../../secret.txt", 100)


def test_fifo_is_refused_without_blocking(tree: Path, mode: str) -> None:
    os.mkfifo(tree / "fifo")
    with pytest.raises(safefs.UnsafePathError, match="not a regular file"):
        safefs.read_regular(tree, "fifo", 100)


def test_make_dirs_refuses_a_symlinked_parent(tree: Path, tmp_path: Path, mode: str) -> None:
    os.close(safefs.make_dirs(tree, "new/deep"))
    assert (tree / "new" / "deep").is_dir()
    os.symlink(tmp_path, tree / "out")
    with pytest.raises(OSError):
        safefs.make_dirs(tree, "out/x")
    assert not (tmp_path / "x").exists()


# --- the /ipc reader built on it (issue #13 item 6) ---------------------------------


@pytest.fixture
def layout(tmp_path: Path) -> IpcLayout:
    lay = IpcLayout(tmp_path / "ipc")
    lay.ensure()
    return lay


def _quarantined(layout: IpcLayout, path: Path) -> list[str]:
    with pytest.raises(QuarantinedError) as info:
        ipc.read_validated(layout, path, ResultMetrics)
    assert not os.path.lexists(path)
    return [p.name for p in layout.errors.iterdir() if not p.name.endswith(".reason")] + [
        info.value.reason
    ]


def test_symlink_to_proc_self_mem_is_quarantined_unread(layout: IpcLayout, mode: str) -> None:
    link = layout.output / "result.json"
    os.symlink("/proc/self/mem", link)
    moved, reason = _quarantined(layout, link)
    assert "symlink" in reason
    assert os.readlink(layout.errors / moved) == "/proc/self/mem"  # moved, not read


def test_fifo_is_quarantined(layout: IpcLayout, mode: str) -> None:
    fifo = layout.output / "status.json"
    os.mkfifo(fifo)
    assert "not a regular file" in _quarantined(layout, fifo)[1]


def test_oversized_file_is_quarantined(layout: IpcLayout, mode: str) -> None:
    big = layout.output / "result.json"
    big.write_bytes(b"{" + b" " * 2000 + b"}")
    assert "larger than 100 bytes" in _quarantined_capped(layout, big)


def _quarantined_capped(layout: IpcLayout, path: Path) -> str:
    with pytest.raises(QuarantinedError) as info:
        ipc.read_validated(layout, path, ResultMetrics, cap=100)
    return info.value.reason


def test_non_utf8_file_is_quarantined(layout: IpcLayout, mode: str) -> None:
    bad = layout.output / "result.json"
    bad.write_bytes(b'{"durationMs": "\xff\xfe"}')
    _quarantined(layout, bad)


def test_symlinked_directory_is_not_read_through(
    layout: IpcLayout, tmp_path: Path, mode: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "result.json").write_bytes(b"{}")
    os.rename(layout.output, tmp_path / "old-output")
    os.symlink(outside, layout.output)
    with pytest.raises(QuarantinedError):
        ipc.read_validated(layout, layout.output / "result.json", ResultMetrics)
    assert (outside / "result.json").read_bytes() == b"{}"  # never moved out of there


def test_write_atomic_with_root_refuses_a_planted_symlink(
    layout: IpcLayout, tmp_path: Path, mode: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.rmdir(layout.input)
    os.symlink(outside, layout.input)
    with pytest.raises(OSError):
        ipc.write_atomic(layout.input / "followup-1.json", b"{}", root=layout.root)
    assert list(outside.iterdir()) == []


def test_ensure_survives_names_taken_by_files_and_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "ipc"
    root.mkdir()
    (root / "output").write_bytes(b"not a directory")
    os.symlink("/nonexistent", root / "spawn")
    layout = IpcLayout(root)
    layout.ensure()  # no FileExistsError: the bridge must start whatever it finds
    assert layout.input.is_dir() and layout.errors.is_dir()
