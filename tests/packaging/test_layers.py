"""Headless packages load no UI: checked in a fresh interpreter via sys.modules."""

from __future__ import annotations

import subprocess
import sys

import pytest

FORBIDDEN = {
    "k8sclaw_sidecar": {"textual", "rich", "click", "questionary", "kubernetes", "k8sclaw"},
    "k8sclaw_protocol": {"textual", "rich", "click", "questionary", "kubernetes"},
    "k8sclaw_controllers": {"textual", "questionary", "k8sclaw"},
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_headless_package_imports_no_ui(package: str) -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "print('\\n'.join(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert not set(out.stdout.split()) & FORBIDDEN[package]
