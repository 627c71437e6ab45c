"""The IPC bridge: `/ipc` files → bus events, and per-run bus topics → `/ipc` files.

Each file version is published exactly once (deduplicated by path and content, so
a rewritten file with the same bytes never doubles a reply); malformed files are
quarantined; the result is published with retries until JetStream acknowledges it,
then the bridge exits 0 so the Job can complete (reference §15: the bridge that never
exited). When the agent writes `/ipc/done` without a valid result (it crashed or broke
the protocol) the bridge publishes `agent.run.failed` and exits `EXIT_NO_RESULT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path

from pydantic import ValidationError

from k8sclaw_protocol import (
    AgentResult,
    Event,
    EventBus,
    ExecResult,
    IpcLayout,
    QuarantinedError,
    Subscription,
    events,
    ipc,
)
from k8sclaw_sidecar import _watch
from k8sclaw_sidecar.bridge import _policy
from k8sclaw_sidecar.bridge._settings import BridgeSettings

log = logging.getLogger("k8sclaw.bridge")

EXIT_NO_RESULT = 3
"""Exit code after `/ipc/done` without a valid `result.json` (agent.run.failed published)."""


class Bridge:
    """One run's bridge; `run()` returns the process exit code."""

    def __init__(
        self, settings: BridgeSettings, bus: EventBus, gate: _policy.ToolGate | None = None
    ) -> None:
        self.settings = settings
        self.gate = gate or _policy.ToolGate.from_env()
        self.layout = IpcLayout(settings.ipc_dir)
        self.bus = bus
        self.stop = asyncio.Event()
        self._published: set[tuple[Path, str]] = set()
        self._result_published = False
        self.exit_code = 0
        self.metadata = {
            events.META_AGENT_RUN_ID: settings.run_id,
            events.META_INSTANCE_NAME: settings.instance,
        }
        if settings.namespace:
            self.metadata[events.META_NAMESPACE] = settings.namespace

    async def run(self) -> int:
        self.layout.ensure()
        run_id = self.settings.run_id
        inbound = [
            self.bus.subscribe(events.followup_topic(run_id), deliver="all"),
            self.bus.subscribe(events.exec_result_topic(run_id), deliver="all"),
        ]
        for sub in inbound:
            await sub.start()
        writers = [
            asyncio.create_task(self._write_followups(inbound[0])),
            asyncio.create_task(self._write_exec_results(inbound[1])),
        ]
        try:
            async for batch in _watch.watch_files(self.layout.root, self.stop):
                await self._handle_batch(batch)
        finally:
            for task in writers:
                task.cancel()
            for sub in inbound:
                await sub.close()
        return self.exit_code

    async def _handle_batch(self, batch: list[Path]) -> None:
        """Publish a batch: other files pipelined in order, then the result, then `done`.

        The result goes last, so everything the agent wrote before it is out first.
        """
        special = (self.layout.result, self.layout.done)
        ready = [self._prepare(p) for p in batch if p not in special]
        items = [(event, msg_id) for event, msg_id, _ in filter(None, ready)]
        if items:
            await self.bus.publish_many(items, retry=True)
        if self.layout.result in batch:
            await self._publish_result()
        if self.layout.done in batch and not self.stop.is_set():
            await self._on_done()

    async def _publish_result(self) -> bool:
        """Publish `result.json` if it is new and valid; True once the result is out."""
        prepared = self._prepare(self.layout.result)
        if prepared is not None:
            event, msg_id, model = prepared
            await self.bus.publish(event, msg_id=msg_id, retry=True)
            assert isinstance(model, AgentResult)
            await self._on_result(model, msg_id)
        return self._result_published

    def _prepare(self, path: Path) -> tuple[Event, str, ipc.IpcModel] | None:
        """The event for a file version not published yet; None for others and bad files."""
        route = ipc.route_for(self.layout, path)
        if route is None or not self.gate.admit(self.layout, path, route.topic):
            return None
        try:
            model, raw = ipc.read_validated(self.layout, path, route.model)
        except FileNotFoundError:
            return None
        except QuarantinedError as exc:
            log.warning("quarantined %s: %s", path.name, exc.reason)
            return None
        digest = hashlib.sha256(raw).hexdigest()[:32]
        if (path, digest) in self._published:
            return None
        self._published.add((path, digest))
        relative = path.relative_to(self.layout.root)
        msg_id = f"{self.settings.run_id}:{relative}:{digest}"
        return Event.new(route.topic, json.loads(raw), self.metadata), msg_id, model

    async def _on_result(self, result: AgentResult, msg_id: str) -> None:
        if result.status == "error":
            failed = Event.new(
                events.AGENT_RUN_FAILED, {"error": result.error or "agent failed"}, self.metadata
            )
            await self.bus.publish(failed, msg_id=msg_id + ":failed", retry=True)
        self._result_published = True
        log.info("result published (%s); exiting", result.status)
        self.stop.set()

    async def _on_done(self) -> None:
        """`/ipc/done`: the result must be out by now; if it cannot be, say the run failed."""
        if self._result_published or await self._publish_result():
            return
        failed = Event.new(
            events.AGENT_RUN_FAILED,
            {"error": "the agent finished without writing a valid result.json"},
            self.metadata,
        )
        await self.bus.publish(failed, msg_id=f"{self.settings.run_id}:done:failed", retry=True)
        log.error("agent finished without a valid result; published agent.run.failed")
        self.exit_code = EXIT_NO_RESULT
        self.stop.set()

    async def _write_followups(self, sub: Subscription) -> None:
        async for event in sub:
            target = self.layout.input / ipc.unique_name("followup")
            self._write(target, json.dumps(event.data).encode())

    async def _write_exec_results(self, sub: Subscription) -> None:
        async for event in sub:
            try:
                result = ExecResult.model_validate(event.data)
            except ValidationError as exc:
                log.warning("dropping malformed exec result: %s", exc.errors()[:1])
                continue
            target = self.layout.exec_result(result.id)
            self._write(target, result, only_new=True)

    def _write(self, target: Path, payload: bytes | ipc.IpcModel, only_new: bool = False) -> None:
        """Write into `/ipc` without following anything the agent planted; never raises
        (a failed write is logged, the writer loop goes on)."""
        if only_new and os.path.lexists(target):
            return
        try:
            ipc.write_atomic(target, payload, root=self.layout.root)
        except OSError as exc:
            log.warning("cannot write %s: %s", target.name, exc)


async def run_bridge(settings: BridgeSettings, stop: asyncio.Event | None = None) -> int:
    """Connect, bridge until the result is out (or `stop` is set), flush and close."""
    bus = await EventBus.connect(settings.bus_url, name=f"ipc-bridge-{settings.run_id}")
    bridge = Bridge(settings, bus)
    watcher = None
    if stop is not None:
        watcher = asyncio.create_task(_watch.relay(stop, bridge.stop))
    try:
        return await bridge.run()
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await bus.close()
