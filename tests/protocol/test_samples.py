"""Shipped samples are valid; known-bad manifests are rejected by the CRD schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from k8sclaw.installer import SAMPLES_DIR
from k8sclaw_protocol import kind_for
from tests.support.crdschema import errors

INVALID_DIR = Path(__file__).parent / "invalid"
SAMPLES = sorted(SAMPLES_DIR.glob("*.yaml"))
INVALID = sorted(INVALID_DIR.glob("*.yaml"))


def _expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: '"
    return first.removeprefix("# expect: ")


def test_one_sample_per_kind() -> None:
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in SAMPLES}
    assert kinds == {"ClawInstance", "AgentRun", "ClawPolicy", "SkillPack", "ClawSchedule"}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_sample_is_valid_against_its_crd(path: Path) -> None:
    obj = yaml.safe_load(path.read_text())
    assert errors(obj) == []


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_sample_round_trips_through_the_model(path: Path) -> None:
    """Parsing and re-serialising keeps every field the user wrote."""
    obj: dict[str, Any] = yaml.safe_load(path.read_text())
    model = kind_for(obj["kind"]).from_wire(obj)
    wire = model.to_wire()
    assert _subset(obj["spec"], wire["spec"])
    assert errors(wire) == []


def _subset(small: Any, big: Any) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(
            k in big and _subset(v, big[k]) for k, v in small.items()
        )
    if isinstance(small, list):
        return isinstance(big, list) and len(small) == len(big) and all(map(_subset, small, big))
    return bool(small == big)


def test_there_are_at_least_fifteen_invalid_manifests() -> None:
    assert len(INVALID) >= 15


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_manifest_is_rejected_for_the_stated_reason(path: Path) -> None:
    obj = yaml.safe_load(path.read_text())
    found = errors(obj)
    expected = _expectation(path)
    assert found, f"{path.name} was accepted"
    assert any(expected in e for e in found), f"expected {expected!r} in {found}"
