"""The bridge against hostile `/ipc` entries: special files, symlinks, oversized and
non-UTF-8 files never stop it, and every valid result goes out exactly once (issue #13
items 6 and the fuzz acceptance)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from k8sclaw_protocol import AgentResult, EventBus, events, ipc
from tests.harness.nats_fixtures import NatsServer
from tests.sidecar.test_bridge import FAST, bridge_on, next_on


async def test_special_files_are_quarantined_and_the_result_still_goes_out(
    tmp_path: Path, nats: NatsServer
) -> None:
    bus = await EventBus.connect(nats.url, backoff=FAST)
    try:
        async with bus.subscribe("agent.>") as sub, bridge_on(tmp_path, nats) as r:
            os.symlink("/proc/self/mem", r.layout.output / "stream-0.json")
            os.mkfifo(r.layout.output / "stream-1.json")
            os.symlink("/proc/self/environ", r.layout.messages / "send-1.json")
            (r.layout.output / "stream-2.json").write_bytes(b"\xff" * (ipc.MAX_FILE_BYTES + 1))
            ipc.write_atomic(r.layout.result, AgentResult(status="success", response="ok"))
            got = await next_on(sub)
            assert (got.topic, got.data["response"]) == (events.AGENT_RUN_COMPLETED, "ok")
            assert await asyncio.wait_for(r.task, 20) == 0
        moved = sorted(p.name.split("-", 1)[1] for p in r.layout.errors.glob("*.json"))
        assert moved == [
            "messages-send-1.json",
            "output-stream-0.json",
            "output-stream-1.json",
            "output-stream-2.json",
        ]
        assert os.readlink(next(r.layout.errors.glob("*-stream-0.json"))) == "/proc/self/mem"
    finally:
        await bus.close()
