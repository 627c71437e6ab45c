"""Headless distributions neither install nor load UI code.

Two checks: the runtime dependency closure of each slim distribution (what its image
installs) excludes the UI libraries, and importing every module of a package in a fresh
interpreter loads none of them. The import check skips names a third-party library pulls
in opportunistically when it happens to be installed (httpx loads click and rich for its
optional CLI); the closure check is what proves the image never has them.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

UI = {"textual", "rich", "click", "questionary"}
CLOSURE_FORBIDDEN = {
    "k8sclaw-sidecar": UI | {"kubernetes", "k8sclaw", "kopf"},
    "k8sclaw-protocol": UI | {"kubernetes", "k8sclaw"},
    "k8sclaw-controllers": {"textual", "questionary", "k8sclaw"},
}
IMPORT_FORBIDDEN = {
    "k8sclaw_sidecar": {"textual", "questionary", "kubernetes", "k8sclaw", "kopf"},
    "k8sclaw_protocol": UI | {"kubernetes", "k8sclaw"},
    "k8sclaw_controllers": {"textual", "questionary", "k8sclaw"},
}


def _closure(dist: str) -> set[str]:
    """Names of every distribution `dist` installs at run time (extras not requested)."""
    seen: set[str] = set()
    todo = [dist]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen - {dist}


@pytest.mark.parametrize("dist", sorted(CLOSURE_FORBIDDEN))
def test_slim_distribution_does_not_install_ui(dist: str) -> None:
    assert not _closure(dist) & CLOSURE_FORBIDDEN[dist]


@pytest.mark.parametrize("package", sorted(IMPORT_FORBIDDEN))
def test_headless_package_imports_no_ui(package: str) -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "print('\\n'.join(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert not set(out.stdout.split()) & IMPORT_FORBIDDEN[package]
