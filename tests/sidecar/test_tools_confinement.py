"""File tools stay inside their roots; fetch_url refuses private targets; sandbox caps output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from k8sclaw_protocol import ExecRequest
from k8sclaw_sidecar._settings import PodPaths
from k8sclaw_sidecar.agent import _fetch, _files
from k8sclaw_sidecar.agent._files import ToolError
from k8sclaw_sidecar.sandbox import run_command


@pytest.mark.parametrize(
    "path",
    ["../outside.txt", "/etc/passwd", "/workspace/../../x", "/ipc/output/result.json"],
    ids=["dotdot", "absolute", "mount-dotdot", "ipc-not-writable"],
)
def test_write_outside_roots_is_refused(pod: PodPaths, path: str) -> None:
    with pytest.raises(ToolError):
        _files.write_file(pod, path, "x")


def test_symlink_escape_is_refused(pod: PodPaths, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    os.symlink(secret, pod.workspace / "link.txt")
    with pytest.raises(ToolError, match="symlink"):
        _files.read_file(pod, "link.txt")


def test_pod_paths_map_to_local_mounts(pod: PodPaths) -> None:
    _files.write_file(pod, "/tmp/a/b.txt", "hi")
    assert (pod.tmp / "a" / "b.txt").read_text() == "hi"
    assert _files.read_file(pod, "/tmp/a/b.txt") == "hi"
    (pod.skills / "s.md").write_text("skill")
    assert _files.read_file(pod, "/skills/s.md") == "skill"
    with pytest.raises(ToolError):
        _files.write_file(pod, "/skills/s.md", "overwrite")
    assert "b.txt" in _files.list_directory(pod, "/tmp/a")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/",
        "http://localhost/",
        "http://169.254.169.254/latest",
        "file:///etc/passwd",
        "http://10.0.0.1/",
    ],
    ids=["loopback", "localhost", "metadata", "file-scheme", "private"],
)
async def test_fetch_refuses_non_public_targets(url: str) -> None:
    with pytest.raises(ToolError):
        await _fetch.fetch_url(url, 100)


async def test_sandbox_caps_output_and_times_out(tmp_path: Path) -> None:
    big = await run_command(
        ExecRequest(id="a", command="head -c 200000 /dev/zero | tr '\\0' x"), tmp_path, cap=1024
    )
    assert big.exit_code == 0
    assert big.stdout.startswith("x" * 1024) and "truncated at 1024 bytes" in big.stdout
    slow = await run_command(ExecRequest(id="b", command="sleep 30", timeout=1), tmp_path)
    assert slow.timed_out and slow.exit_code == 124


async def test_sandbox_wraps_command_in_sh_exactly_once(tmp_path: Path) -> None:
    result = await run_command(ExecRequest(id="c", command="echo 'a b' | wc -w; pwd"), tmp_path)
    assert result.stdout.split() == ["2", str(tmp_path)]
