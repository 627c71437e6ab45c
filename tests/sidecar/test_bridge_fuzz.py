"""Acceptance fuzz (issue #13): hypothesis over `/ipc` entry names, contents and file
types - symlinks (to /proc/self/mem, outside files, dangling), FIFOs, directories,
oversized and non-UTF-8 files - against the real bridge and a real NATS server. The
bridge never exits abnormally, every valid file is published exactly once, and the
result exactly once."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8sclaw_protocol import (
    AgentResult,
    Event,
    EventBus,
    IpcLayout,
    StreamChunk,
    Subscription,
    busauth,
    events,
    ipc,
)
from k8sclaw_sidecar.bridge import Bridge, BridgeSettings, ToolGate
from tests.harness.nats_fixtures import NatsServer
from tests.sidecar.test_bridge import FAST, NS, UID, control_bus

DIRS = ("output", "spawn", "messages", "tools", "input", "errors", "elsewhere")
KINDS = ("garbage", "non-utf8", "huge", "mem-link", "out-link", "dangling", "fifo", "dir")


@dataclass(frozen=True)
class Entry:
    directory: str
    name: str
    kind: str
    content: bytes


NAMES = st.one_of(
    st.sampled_from(["result.json", "status.json", "stream-9.json", "send-1.json", "x.json"]),
    st.sampled_from(["exec-request-1.json", "request-1.json", "a.tmp", ".hidden", "done"]),
    st.text(
        alphabet=st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=30,
    ).filter(lambda n: n not in (".", "..") and len(n.encode()) < 200),
)
ENTRIES = st.builds(
    Entry,
    directory=st.sampled_from(DIRS),
    name=NAMES,
    kind=st.sampled_from(KINDS),
    content=st.binary(max_size=300),
)


def _place(layout: IpcLayout, entry: Entry, outside: Path) -> None:
    directory = layout.root / entry.directory
    directory.mkdir(exist_ok=True)
    path = directory / entry.name
    if os.path.lexists(path) or path == layout.result:
        return  # the result is written by the scenario itself
    if entry.kind in ("garbage", "non-utf8", "huge"):
        data = {
            "garbage": entry.content,
            "non-utf8": b'{"type": "text", "content": "\xff\xfe", "index": 1}',
            "huge": b"[" * (ipc.MAX_FILE_BYTES + 1),
        }[entry.kind]
        path.write_bytes(data)
    elif entry.kind == "fifo":
        os.mkfifo(path)
    elif entry.kind == "dir":
        path.mkdir()
    else:
        target = {"mem-link": "/proc/self/mem", "out-link": str(outside), "dangling": "nope"}
        os.symlink(target[entry.kind], path)


async def _scenario(nats: NatsServer, root: Path, before: list[Entry], after: list[Entry]) -> None:
    run = f"fuzz-{uuid.uuid4().hex[:8]}"
    layout = IpcLayout(root / "ipc")
    layout.ensure()
    outside = root / "secret.json"
    outside.write_bytes(b'{"type": "text", "content": "SECRET", "index": 0}')
    for entry in before:
        _place(layout, entry, outside)
    valid = [StreamChunk(type="text", content=f"chunk {i}", index=i) for i in range(3)]
    bus = await control_bus(nats)
    creds = nats.run_creds(NS, run, UID)
    settings = BridgeSettings(layout.root, run, "alice", nats.url, NS, creds, UID)
    own = await EventBus.connect(
        nats.url,
        backoff=FAST,
        credentials=creds,
        inbox_prefix=busauth.scoped_inbox("run", NS, run),
        manage_stream=False,
    )
    try:
        async with bus.subscribe("agent.>") as sub:
            bridge = Bridge(settings, own, ToolGate(frozenset()))
            task = asyncio.create_task(bridge.run())
            ipc.write_atomic(layout.stream_chunk(0), valid[0])
            for entry in after:
                _place(layout, entry, outside)
            ipc.write_atomic(layout.stream_chunk(1), valid[1])
            ipc.write_atomic(layout.stream_chunk(1), valid[1])  # same bytes: not again
            ipc.write_atomic(layout.stream_chunk(2), valid[2])
            ipc.write_atomic(layout.result, AgentResult(status="success", response="ok"))
            assert await asyncio.wait_for(task, 60) == 0
            seen = await _drain(sub, run)
    finally:
        await own.close()
        await bus.close()
    completed = [e for e in seen if e.topic == events.AGENT_RUN_COMPLETED]
    chunks = sorted(e.data["content"] for e in seen if e.topic == events.AGENT_STREAM_CHUNK)
    assert [e.data["response"] for e in completed] == ["ok"]
    assert chunks == ["chunk 0", "chunk 1", "chunk 2"]  # no SECRET, no duplicates
    assert not any(e.topic == events.AGENT_SPAWN_REQUEST for e in seen)


async def _drain(sub: Subscription, run: str) -> list[Event]:
    """This run's events until the completion, then a short quiet period for duplicates."""
    seen: list[Event] = []
    deadline = 0.0
    while True:
        try:
            event = await sub.next(30 if not deadline else 0.5)
        except TimeoutError:
            if deadline:
                return seen
            raise
        if event.metadata.get(events.META_AGENT_RUN_ID) != run:
            continue
        seen.append(event)
        if event.topic == events.AGENT_RUN_COMPLETED:
            deadline = 1.0


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    before=st.lists(ENTRIES, max_size=6),
    after=st.lists(ENTRIES, max_size=6),
)
def test_bridge_survives_any_ipc_entries(
    nats: NatsServer, before: list[Entry], after: list[Entry]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_scenario(nats, Path(tmp), before, after))
