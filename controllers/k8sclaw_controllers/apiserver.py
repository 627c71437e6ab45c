"""`k8sclaw-apiserver` — placeholder until the API server (SPEC §7, no issue
filed yet) is built: HTTP and WebSocket API over
instances, runs and transcripts.
"""

from __future__ import annotations

from k8sclaw_protocol._placeholder import placeholder_main

PURPOSE = "HTTP and WebSocket API over instances, runs and transcripts."


def main() -> int:
    """Console entry point."""
    return placeholder_main("k8sclaw-apiserver", PURPOSE, "SPEC §7")


if __name__ == "__main__":
    raise SystemExit(main())
