"""The recorder end to end: real NATS, the Kubernetes API (emulator or a real cluster), and
each store backend. A run's events become a complete transcript; a recorder that dies
mid-stream and comes back leaves no gap and no duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from k8sclaw_controllers import transcripts
from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import Backoff, Event, EventBus, events, names
from tests.controllers.transcripts._helpers import Item, opened, publish_scoped
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer
from tests.policy._builders import run_body

FAST = Backoff(initial=0.02, maximum=0.2)
WAIT = 60.0


@contextlib.asynccontextmanager
async def _kube_client(kube: KubeEnv) -> AsyncIterator[_kube.Kube]:
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    try:
        yield client
    finally:
        await client.close()


async def _create_run(client: _kube.Kube, ns: str, name: str, **spec: Any) -> None:
    body = run_body(name, ns, **spec)
    body["metadata"]["labels"] = {names.LABEL_INSTANCE: "alpha"}
    await client.create(_kube.claw(ns, "agentruns"), body)


@contextlib.asynccontextmanager
async def _recording(recorder: transcripts.Recorder) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(recorder.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, BaseException):
            await task


async def _wait_for(store: transcripts.SqlStore, ns: str, run: str, count: int) -> None:
    async def poll() -> None:
        while True:
            page = await store.transcript(ns, run, after=0, limit=1)
            if page.run is not None and page.run.event_count >= count:
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), WAIT)


async def _all(store: transcripts.SqlStore, ns: str, run: str) -> list[transcripts.EventRow]:
    rows, after = [], None
    while True:
        page = await store.transcript(ns, run, after=after, limit=97)
        rows += page.events
        if page.next_after is None:
            return rows
        after = page.next_after


async def test_a_run_end_to_end_leaves_a_complete_transcript(
    store_url: str | None, tmp_path: Path, nats: NatsServer, kube: KubeEnv
) -> None:
    ns, run = kube.namespace, f"run-{secrets.token_hex(3)}"
    lie = {events.META_INSTANCE_NAME: "evil", events.META_NAMESPACE: "other"}
    script = [
        (events.AGENT_RUN_STARTED, {"pod": "p"}),
        (events.AGENT_STATUS_UPDATE, {"phase": "thinking"}),
        (events.AGENT_STREAM_CHUNK, {"type": "text", "content": "Hi", "index": 0}),
        (events.AGENT_STREAM_CHUNK, {"type": "tool_use", "content": "ls", "index": 1}),
        (events.TOOL_EXEC_REQUEST, {"id": "t1", "command": "ls", "args": ["-l"]}),
        (events.TOOL_EXEC_RESULT, {"id": "t1", "exit_code": 0, "stdout": "a\n"}),
        (events.AGENT_RUN_FAILED, {"error": "transient"}),
        (
            events.AGENT_RUN_COMPLETED,
            {"status": "success", "response": "done", "metrics": {"input_tokens": 7}},
        ),
    ]
    bus = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"), backoff=FAST)
    async with _kube_client(kube) as client, opened(store_url, tmp_path) as store:
        await _create_run(client, ns, run, sessionKey="chat-42", task="list the files")
        lookup = transcripts.KubeRunLookup(client)
        recorder = transcripts.Recorder(bus, store, lookup, backoff=FAST)
        # Not about a run: an unscoped subject and a channel (instance-scoped) topic.
        await _publish_unscoped(nats, Event.new(events.AGENT_STREAM_CHUNK, {"content": "x"}))
        await publish_scoped(bus, [(events.CHANNEL_MESSAGE_SEND, ns, "alpha", {"text": "x"})])
        published = await publish_scoped(bus, [(t, ns, run, d) for t, d in script], lie)
        async with _recording(recorder):
            await _wait_for(store, ns, run, len(script))
        rows = await _all(store, ns, run)
        sessions = await store.sessions(ns)
    await bus.close()
    assert [r.seq for r in rows] == [0, *published]
    assert [r.kind for r in rows] == [
        "task", "status", "status", "text", "tool_call", "tool_call", "tool_result", "error",
        "result",
    ]  # fmt: skip
    assert rows[0].data == {"task": "list the files"}
    assert rows[5].data == {"id": "t1", "command": "ls", "args": ["-l"]}
    assert rows[-1].data["metrics"] == {"input_tokens": 7}
    assert {(r.namespace, r.instance, r.session, r.run) for r in rows} == {
        (ns, "alpha", "chat-42", run)
    }
    assert [(s.instance, s.key, s.run_count) for s in sessions] == [("alpha", "chat-42", 1)]
    assert recorder.stats.skipped == 2
    assert lookup.requests == 1


class KilledError(BaseException):
    """Stands for the process dying: not an Exception, so nothing retries it."""


class DyingStore:
    """The real store, except that the recorder "dies" on its `die_at`-th batch, before or
    after the commit (the two places a crash can lose or repeat work)."""

    def __init__(self, store: transcripts.SqlStore, die_at: int, after_commit: bool) -> None:
        self._store, self._die_at, self._after = store, die_at, after_commit
        self.batches = 0

    async def record(
        self,
        batch: Sequence[transcripts.NewEvent],
        runs: Mapping[tuple[str, str], transcripts.RunInfo],
    ) -> int:
        self.batches += 1
        if self.batches == self._die_at and not self._after:
            raise KilledError
        inserted = await self._store.record(batch, runs)
        if self.batches == self._die_at:
            raise KilledError
        return inserted

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.mark.parametrize("after_commit", [True, False], ids=["after-commit", "before-commit"])
async def test_a_recorder_killed_mid_stream_leaves_no_gap_and_no_duplicate(
    store_url: str | None,
    after_commit: bool,
    tmp_path: Path,
    nats: NatsServer,
    kube: KubeEnv,
) -> None:
    ns, run = kube.namespace, f"run-{secrets.token_hex(3)}"

    def chunks(numbers: range) -> list[Item]:
        return [
            (events.AGENT_STREAM_CHUNK, ns, run, {"type": "text", "content": f"{i}", "index": i})
            for i in numbers
        ]

    bus = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"), backoff=FAST)
    async with _kube_client(kube) as client, opened(store_url, tmp_path) as store:
        await _create_run(client, ns, run)
        lookup = transcripts.KubeRunLookup(client)
        published = await publish_scoped(bus, chunks(range(150)))
        dying = DyingStore(store, die_at=3, after_commit=after_commit)
        first = transcripts.Recorder(bus, dying, lookup, batch_size=16, backoff=FAST)  # type: ignore[arg-type]
        with pytest.raises(KilledError):
            await asyncio.wait_for(first.run(), WAIT)
        stored_at_death = len(await _all(store, ns, run)) - 1
        published += await publish_scoped(bus, chunks(range(150, 200)))
        second = transcripts.Recorder(bus, store, lookup, batch_size=16, backoff=FAST)
        async with _recording(second):
            await _wait_for(store, ns, run, len(published))
        rows = (await _all(store, ns, run))[1:]
        final = await store.transcript(ns, run, after=0, limit=1)
    await bus.close()
    assert [r.seq for r in rows] == published  # every event, once, in order
    assert [r.data["content"] for r in rows] == [str(i) for i in range(200)]
    assert final.run is not None and final.run.event_count == 200
    assert 0 < stored_at_death < 150
    # The batch committed but never acknowledged came back and was written nothing twice.
    assert (second.stats.duplicates > 0) is after_commit
    assert second.stats.recorded == 200 - stored_at_death


class UnreachableAtFirst:
    """A RunLookup whose API server is unreachable for the first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    async def __call__(self, namespace: str, run: str) -> transcripts.RunInfo:
        if self.failures:
            self.failures -= 1
            raise OSError("connection refused")
        return transcripts.RunInfo("alpha", "s-1", "task")


async def test_the_recorder_waits_out_an_unreachable_api_server(
    store_url: str | None, tmp_path: Path, nats: NatsServer
) -> None:
    bus = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"), backoff=FAST)
    items = [(events.AGENT_STREAM_CHUNK, "team-a", "run-1", {"type": "text", "index": i})
             for i in range(20)]  # fmt: skip
    async with opened(store_url, tmp_path) as store:
        published = await publish_scoped(bus, items)
        recorder = transcripts.Recorder(bus, store, UnreachableAtFirst(3), backoff=FAST)
        async with _recording(recorder):
            await _wait_for(store, "team-a", "run-1", len(published))
        rows = (await _all(store, "team-a", "run-1"))[1:]
    await bus.close()
    assert [r.seq for r in rows] == published
    assert recorder.stats.failures == 3 and recorder.stats.duplicates == 0


@pytest.mark.slow
async def test_a_recorder_process_killed_with_sigkill_leaves_no_gap_and_no_duplicate(
    store_url: str | None, tmp_path: Path, nats: NatsServer
) -> None:
    """No nak, no rollback, no goodbye: what it missed comes back after the ack wait (30 s).

    Half the events are published before the kill and half after, so the kill always lands
    before the end of the stream, however fast the child runs beside a starved parent."""
    items = [(events.AGENT_STREAM_CHUNK, "team-a", "run-1", {"index": i}) for i in range(400)]
    cmd = [
        sys.executable,
        "-m",
        "tests.controllers.transcripts._child_recorder",
        nats.url,
        str(nats.creds_for("recorder")),
    ]
    cmd += [str(tmp_path), *([store_url] if store_url else [])]
    bus = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"), backoff=FAST)
    async with opened(store_url, tmp_path) as store:
        child = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
        try:
            assert child.stdout is not None
            assert await asyncio.wait_for(child.stdout.readline(), WAIT) == b"ready\n"
            published = await publish_scoped(bus, items[:200])
            await _wait_for(store, "team-a", "run-1", 40)
        finally:
            child.kill()
            await asyncio.wait_for(child.wait(), WAIT)
        at_death = (await store.transcript("team-a", "run-1", after=0, limit=1)).run
        published += await publish_scoped(bus, items[200:])
        second = transcripts.Recorder(bus, store, UnreachableAtFirst(0), backoff=FAST)
        async with _recording(second):
            await _wait_for(store, "team-a", "run-1", len(published))
        rows = (await _all(store, "team-a", "run-1"))[1:]
    await bus.close()
    assert at_death is not None and 40 <= at_death.event_count <= 200
    assert [r.seq for r in rows] == published
    assert [r.data["index"] for r in rows] == list(range(400))


async def _publish_unscoped(nats: NatsServer, event: Event) -> None:
    """Publish on the bare topic subject (no namespace/run), which the bus client no longer
    makes: only a raw client of an identity allowed all of `k8sclaw.>` can."""
    import nats as nats_client

    nc = await nats_client.connect(nats.url, user_credentials=str(nats.creds_for("controller")))
    try:
        await nc.jetstream().publish(events.subject(event.topic), event.to_bytes())
    finally:
        await nc.close()
