"""Installer: applies the bundled manifests to a cluster. Built in issue #6."""

from __future__ import annotations

from pathlib import Path

MANIFESTS_DIR = Path(__file__).resolve().parent.parent / "manifests"
CRDS_DIR = MANIFESTS_DIR / "crds"
SAMPLES_DIR = MANIFESTS_DIR / "samples"

__all__ = ["CRDS_DIR", "MANIFESTS_DIR", "SAMPLES_DIR"]
