"""A recorder in its own process, for the test that kills it with SIGKILL.

    python -m tests.controllers.transcripts._child_recorder NATS_URL DATA_DIR [DATABASE_URL]

Where a run sits is a fixed answer here (the lookup is not what that test is about).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from k8sclaw_controllers import transcripts
from k8sclaw_protocol import EventBus


async def fixed(namespace: str, run: str) -> transcripts.RunInfo:
    return transcripts.RunInfo("alpha", "s-1", "task")


async def main(nats_url: str, data_dir: str, database_url: str | None) -> None:
    store = await transcripts.open_store(database_url, Path(data_dir))
    bus = await EventBus.connect(nats_url)
    print("ready", flush=True)
    # One event per transaction: slow enough that the kill lands mid-stream.
    await transcripts.Recorder(bus, store, fixed, batch_size=1).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
