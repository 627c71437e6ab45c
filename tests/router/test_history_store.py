"""History comes from the transcript store: the recorder stores a run's task and result,
and the next run of the session gets them as turns (no watched run needed)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from k8sclaw_controllers import transcripts
from k8sclaw_controllers.router._history import conversation_history
from k8sclaw_protocol import EventBus, busauth, events
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer
from tests.router._harness import FAST, eventually, routing, world


async def test_history_is_read_from_the_transcript_store(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    async with world(nats, kube, tmp_path) as w:
        recorder_bus = await EventBus.connect(
            nats.url, credentials=nats.creds_for("recorder"), manage_stream=False, backoff=FAST
        )
        lookup = transcripts.KubeRunLookup(w.kube)
        recorder = asyncio.create_task(transcripts.run_recorder(recorder_bus, w.store, lookup))
        try:
            async with routing(w):
                await w.say("my name is Ada", "m-1")
                (run,) = await eventually(w.runs, what="the run")
            uid = run.metadata.uid or ""
            bridge = await EventBus.connect(
                nats.url,
                credentials=nats.run_creds(w.ns, run.name, uid),
                inbox_prefix=busauth.scoped_inbox("run", w.ns, run.name),
                manage_stream=False,
                backoff=FAST,
            )
            done = events.Event.new(
                events.AGENT_RUN_COMPLETED, {"status": "success", "response": "hello Ada"}
            )
            await bridge.publish(done, scope=(w.ns, run.name), retry=True)
            await bridge.close()

            async def turns() -> list[tuple[str, str]]:
                got = await conversation_history(w.store, w.ns, run.spec.session_key, [])
                return [(t.role, t.text) for t in got]

            assert await eventually(turns, what="the stored turn") == [
                ("user", "my name is Ada"),
                ("assistant", "hello Ada"),
            ]
        finally:
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder
            await recorder_bus.close()
