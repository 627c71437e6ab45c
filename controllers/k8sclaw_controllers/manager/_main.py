"""Console entry point of `k8sclaw-controller` (wired to the operator in a later step)."""

from __future__ import annotations

from k8sclaw_protocol._placeholder import placeholder_main


def main() -> int:
    """Console entry point."""
    return placeholder_main("k8sclaw-controller", "Controller manager.", 4)
