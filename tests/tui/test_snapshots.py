"""Snapshot tests (pytest-textual-snapshot) of every view at 80x24 and 160x48.

Seeded objects and a frozen clock make ages deterministic. Update after an intended
visual change with `uv run pytest tests/tui/test_snapshots.py --snapshot-update` and
look at the SVGs under `tests/tui/__snapshots__/` before committing them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from k8sclaw.tui import K8sClawApp
from tests.tui import _seed

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
SCREENS = {
    "instances": ("1",),
    "runs": ("2", "j"),
    "channels": ("3",),
    "policies": ("4",),
    "skills": ("5",),
    "pods": ("6",),
    "schedules": ("7",),
    "help": ("question_mark",),
    "describe": ("d",),
}


def app() -> K8sClawApp:
    return K8sClawApp(namespace="default", context="snapshot", clock=lambda: _seed.NOW)


async def seeded(pilot: Pilot[int]) -> None:
    assert isinstance(pilot.app, K8sClawApp)
    await _seed.seed(pilot.app)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_view(screen: str, size: tuple[int, int], snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(app(), press=SCREENS[screen], terminal_size=size, run_before=seeded)


@pytest.mark.parametrize("size", SIZES)
def test_empty_state(size: tuple[int, int], snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(app(), press=("2",), terminal_size=size)
