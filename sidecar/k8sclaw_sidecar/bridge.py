"""`k8sclaw-ipc-bridge` — placeholder until issue #5 lands: IPC bridge: publishes /ipc files of
an agent pod on the NATS event bus.
"""

from __future__ import annotations

from k8sclaw_protocol._placeholder import placeholder_main

PURPOSE = "IPC bridge: publishes /ipc files of an agent pod on the NATS event bus."


def main() -> int:
    """Console entry point."""
    return placeholder_main("k8sclaw-ipc-bridge", PURPOSE, 5)


if __name__ == "__main__":
    raise SystemExit(main())
