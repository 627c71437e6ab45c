"""Shared helpers for the sidecar tests: pod paths on a temp dir, agent settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from k8sclaw_sidecar._settings import PodPaths
from k8sclaw_sidecar.agent import AgentSettings


def make_pod(tmp_path: Path) -> PodPaths:
    """Every mount of an agent pod as a directory under `tmp_path`."""
    dirs = ("ipc", "workspace", "skills", "memory", "tmp", "ipc-sandbox")
    paths = PodPaths(*(tmp_path / n for n in dirs))
    for p in (paths.ipc, paths.workspace, paths.skills, paths.memory, paths.tmp):
        p.mkdir()
    paths.sandbox_ipc.mkdir()
    return paths


@pytest.fixture
def pod(tmp_path: Path) -> PodPaths:
    return make_pod(tmp_path)


def agent_settings(pod: PodPaths, provider: str, base_url: str, **kw: object) -> AgentSettings:
    base = AgentSettings(
        paths=pod,
        run_id="run-1",
        agent_id="default",
        session_key="s",
        instance="alice",
        task="do it",
        system_prompt="",
        provider=provider,
        model="m-1",
        base_url=base_url,
        thinking="",
        api_key="sk-test",
        azure_api_version="2024-06-01",
        tools_allow=None,
        tools_deny=frozenset(),
        max_iterations=5,
        deadline_seconds=60,
        max_retries=2,
        exec_timeout=5,
        fetch_allow_networks=("127.0.0.0/8",),
    )
    return replace(base, **kw)  # type: ignore[arg-type]
