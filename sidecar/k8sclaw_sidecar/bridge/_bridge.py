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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from k8sclaw_protocol import (
    AgentResult,
    ApprovalDecision,
    ApprovalRequest,
    BusError,
    Event,
    EventBus,
    ExecResult,
    IpcLayout,
    QuarantinedError,
    Subscription,
    busauth,
    events,
    ipc,
)
from k8sclaw_sidecar import _watch
from k8sclaw_sidecar.bridge import _policy
from k8sclaw_sidecar.bridge._settings import BridgeSettings

log = logging.getLogger("k8sclaw.bridge")
M = TypeVar("M", bound=BaseModel)

EXIT_NO_RESULT = 3
"""Exit code after `/ipc/done` without a valid `result.json` (agent.run.failed published)."""
EXIT_BUS_UNAVAILABLE = 4
"""Exit code when the bus did not take the run's events within `result_timeout` seconds:
the controller completes the run from the agent's log and names the outage."""


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
        self._asked: dict[str, str] = {}
        """Approval ids this run asked → tool; decisions for any other id are dropped."""
        self._decided: set[str] = set()
        self.exit_code = 0
        self.scope = (settings.namespace, settings.run_id)
        self.metadata = {
            events.META_AGENT_RUN_ID: settings.run_id,
            events.META_INSTANCE_NAME: settings.instance,
        }
        if settings.namespace:
            self.metadata[events.META_NAMESPACE] = settings.namespace

    async def run(self) -> int:
        self.layout.ensure()
        inbound = [
            self._inbound(events.AGENT_FOLLOWUP),
            self._inbound(events.TOOL_EXEC_RESULT),
            self._inbound(events.TOOL_APPROVAL_RESPONSE),
        ]
        for sub in inbound:
            await sub.start()
        writers = [
            asyncio.create_task(self._write_followups(inbound[0])),
            asyncio.create_task(self._write_exec_results(inbound[1])),
            asyncio.create_task(self._write_decisions(inbound[2])),
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

    def _inbound(self, topic: str) -> Subscription:
        """This run's consumer of `topic`: the one name and filter its credentials allow,
        from the run's creation on (a re-created run never sees its predecessor's)."""
        namespace, run = self.scope
        since = self.settings.run_created
        return self.bus.subscribe(
            events.scoped_filter(topic, namespace, run),
            durable=busauth.consumer_name(topic, namespace, run, self.settings.run_uid),
            deliver="all",
            since=since,
        )

    async def _handle_batch(self, batch: list[Path]) -> None:
        """Publish a batch: other files pipelined in order, then the result, then `done`.

        The result goes last, so everything the agent wrote before it is out first. A bus
        that takes nothing for `result_timeout` seconds ends the bridge (see
        `EXIT_BUS_UNAVAILABLE`) instead of holding the pod forever.
        """
        special = (self.layout.result, self.layout.done)
        try:
            ready = [self._prepare(p) for p in batch if p not in special]
            items = [(event, msg_id) for event, msg_id, _ in filter(None, ready)]
            if items:
                await self.bus.publish_many(items, scope=self.scope, retry=True)
            if self.layout.result in batch:
                await self._publish_result()
            if self.layout.done in batch and not self.stop.is_set():
                await self._on_done()
        except BusError as exc:
            log.error("the event bus is unavailable (%s); exiting, the result is on the log", exc)
            self.exit_code = EXIT_BUS_UNAVAILABLE
            self.stop.set()

    async def _publish(self, event: Event, msg_id: str) -> None:
        """Publish one event that must not be lost, bounded by `result_timeout`."""
        await self.bus.publish(
            event,
            scope=self.scope,
            msg_id=msg_id,
            retry=True,
            give_up_after=self.settings.result_timeout,
        )

    async def _publish_result(self) -> bool:
        """Publish `result.json` if it is new and valid; True once the result is out."""
        prepared = self._prepare(self.layout.result)
        if prepared is not None:
            event, msg_id, model = prepared
            await self._publish(event, msg_id)
            assert isinstance(model, AgentResult)
            await self._on_result(model, msg_id)
        return self._result_published

    def _prepare(self, path: Path) -> tuple[Event, str, ipc.IpcModel] | None:
        """The event for a file version not published yet; None for others and bad files."""
        route = ipc.route_for(self.layout, path)
        if route is None or not self.gate.permits(route.topic):
            if route is not None:
                self.gate.admit(self.layout, path, route.topic)  # quarantines it
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
        if not self.gate.admit(self.layout, path, route.topic) or not self._asking(path, model):
            return None
        self._published.add((path, digest))
        relative = path.relative_to(self.layout.root)
        msg_id = f"{self.settings.run_id}:{relative}:{digest}"
        event = events.fit(Event.new(route.topic, json.loads(raw), self.metadata))
        return event, msg_id, model

    def _asking(self, path: Path, model: ipc.IpcModel) -> bool:
        """Remember an approval request's id (only answers to it reach the agent); one for
        a tool the run does not gate `ask` is quarantined."""
        if not isinstance(model, ApprovalRequest):
            return True
        if model.tool not in self.gate.ask:
            reason = f"approval asked for {model.tool}, which this run does not gate ask"
            ipc.quarantine(self.layout, path, reason)
            log.warning("quarantined %s: %s", path.name, reason)
            return False
        self._asked.setdefault(model.id, model.tool)
        return True

    async def _on_result(self, result: AgentResult, msg_id: str) -> None:
        if result.status == "error":
            # Usage and stop reason ride along: the controller may see this event before
            # the result's, and a run stopped at its budget still spent what it spent.
            data: dict[str, object] = {
                "error": result.error or "agent failed",
                "metrics": result.metrics.model_dump(by_alias=True),
            }
            if result.stop_reason:
                data["stopReason"] = result.stop_reason
            failed = Event.new(events.AGENT_RUN_FAILED, data, self.metadata)
            await self._publish(failed, msg_id + ":failed")
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
        await self._publish(failed, f"{self.settings.run_id}:done:failed")
        log.error("agent finished without a valid result; published agent.run.failed")
        self.exit_code = EXIT_NO_RESULT
        self.stop.set()

    async def _write_followups(self, sub: Subscription) -> None:
        async for event in sub:
            target = self.layout.input / ipc.unique_name("followup")
            self._write(target, json.dumps(event.data).encode())

    async def _write_exec_results(self, sub: Subscription) -> None:
        async for result in _valid(sub, ExecResult, "exec result"):
            self._write(self.layout.exec_result(result.id), result, only_new=True)

    async def _write_decisions(self, sub: Subscription) -> None:
        async for decision in _valid(sub, ApprovalDecision, "approval decision"):
            self._deliver_decision(decision)

    def _deliver_decision(self, decision: ApprovalDecision) -> None:
        """Hand the first decision on an id this run asked to the waiting call; an
        approve lets one file of the gated tool's topic through the gate."""
        tool = self._asked.get(decision.id)
        if tool is None or decision.id in self._decided:
            log.warning("dropping a decision on approval %s: not asked by this run", decision.id)
            return
        self._decided.add(decision.id)
        if decision.decision == "approve":
            self.gate.grant(tool)
        self._write(self.layout.approval_decision(decision.id), decision, only_new=True)

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
    stop = stop or asyncio.Event()
    bus = await _connect(settings, stop)
    if bus is None:
        return 0 if stop.is_set() else EXIT_BUS_UNAVAILABLE
    bridge = Bridge(settings, bus)
    watcher = asyncio.create_task(_watch.relay(stop, bridge.stop))
    try:
        return await bridge.run()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await bus.close()


async def _connect(settings: BridgeSettings, stop: asyncio.Event) -> EventBus | None:
    """The run's bus connection; None when stopped, or when the agent has finished and the
    bus stayed unreachable for `result_timeout` seconds after (never waits forever)."""
    namespace, run = settings.namespace, settings.run_id
    connecting = asyncio.create_task(
        EventBus.connect(
            settings.bus_url,
            name=f"ipc-bridge-{namespace}-{run}",
            credentials=settings.creds,
            inbox_prefix=busauth.scoped_inbox("run", namespace, run),
            manage_stream=False,
        )
    )
    layout, loop = IpcLayout(settings.ipc_dir), asyncio.get_running_loop()
    finished_at: float | None = None
    while not connecting.done():
        await asyncio.wait({connecting}, timeout=CONNECT_POLL)
        if finished_at is None and (layout.result.exists() or layout.done.exists()):
            finished_at = loop.time()
        gave_up = finished_at is not None and loop.time() - finished_at >= settings.result_timeout
        if not connecting.done() and (stop.is_set() or gave_up):
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting
            if gave_up:
                log.error("the event bus is unreachable; exiting, the result is on the log")
            return None
    return connecting.result()


CONNECT_POLL = 0.5
"""Seconds between checks for a finished agent while the bus is unreachable."""


async def _valid(sub: Subscription, model: type[M], what: str) -> AsyncIterator[M]:
    """The events of `sub` that parse as `model`; a malformed one is logged and dropped
    (it comes from the bus, where a hostile run may have published it)."""
    async for event in sub:
        try:
            parsed = model.model_validate(event.data)
        except ValidationError as exc:
            log.warning("dropping malformed %s: %s", what, exc.errors()[:1])
            continue
        yield parsed
