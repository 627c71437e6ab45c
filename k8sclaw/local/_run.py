"""`k8sclaw run --local`: one agent run as local processes on an embedded bus.

The CLI does what the controller and the kubelet do for a cluster run: it starts the
bus (`_nats`), owns the stream and mints the bridge's user, lays out the pod's volumes
(`_layout`), starts the sandbox executor, the IPC bridge and the agent runner (their
console scripts, the programs of the pod's containers), prints the agent's log as
`k8sclaw runs logs -f` does (`AnswerPrinter`), and takes the outcome from the result the
bridge published on the bus. Everything it prints and keeps is also written to the local
transcript store (`_store`). Whatever happens, every child process is stopped.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import secrets
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from k8sclaw.cli._logs import AnswerPrinter, _chatter
from k8sclaw.local import _layout
from k8sclaw.local._layout import NAMESPACE, RunDirs
from k8sclaw.local._model import ModelConfig
from k8sclaw.local._nats import LocalBus
from k8sclaw.local._procs import Children
from k8sclaw.local._store import RunWriter, Transcripts
from k8sclaw.render import terminal_safe

if TYPE_CHECKING:
    from k8sclaw_protocol import ClawPolicy, Event, EventBus, LogPiece, SkillPack, Subscription

CONNECT_TIMEOUT = 20.0
RESULT_WAIT = 15.0
"""Seconds to wait, after the agent exits, for its result on the bus."""
EXIT_MARGIN = 60.0
"""Seconds past the run's deadline before the agent process is stopped."""
READ_SIZE = 4096


@dataclass(frozen=True)
class LocalRun:
    """What to run and with what."""

    task: str
    model: ModelConfig
    policy: ClawPolicy | None = None
    skills: tuple[SkillPack, ...] = ()
    workspace: Path | None = None
    timeout_seconds: float = 600.0
    store: Transcripts = field(default_factory=Transcripts)


def new_name() -> str:
    return f"local-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


class RecordingPrinter(AnswerPrinter):
    """Prints the agent's log like `runs logs -f` and keeps each piece in the transcript."""

    def __init__(self, writer: RunWriter) -> None:
        super().__init__()
        self.writer = writer
        self.response: str | None = None

    def _show(self, piece: LogPiece) -> None:
        if piece.kind == "result" and piece.result is not None:
            self.response = piece.result.response
        elif piece.kind != "log" or not _chatter(piece.text):
            self.writer.add(piece.kind, piece.text)
        super()._show(piece)


def tools_for(policy: ClawPolicy | None) -> tuple[list[str] | None, list[str]]:
    """The run's allow and deny lists, judged as the webhook judges a run of the policy.

    Tools the policy gates `ask` are denied: a local run has nobody to approve a call."""
    if policy is None:
        return None, []
    from k8sclaw_protocol._toolpolicy import effective_tool_policy

    effective = effective_tool_policy(policy, None)
    ask = set(effective.ask or [])
    allow = [tool for tool in effective.allow or [] if tool not in ask]
    return allow, sorted({*(effective.deny or []), *ask})


def write_skills(packs: tuple[SkillPack, ...], directory: Path) -> None:
    """The packs' `<skill>.md` files, as the controller's ConfigMaps project them."""
    from k8sclaw_protocol._skillpack import skill_files

    for pack in packs:
        for filename, text in skill_files(pack).items():
            (directory / filename).write_text(text)


class Session:
    """One local run in progress; `execute` returns the exit code."""

    def __init__(self, spec: LocalRun, root: Path) -> None:
        self.spec = spec
        self.name = new_name()
        self.uid = str(uuid.uuid4())
        self.dirs = RunDirs(root, spec.workspace or root / "workspace")
        self.children = Children()
        self.bus = LocalBus(self.dirs.bus)
        self.writer = spec.store.begin(self.name, spec.task, spec.model.model)
        self.results: asyncio.Queue[Event] = asyncio.Queue()
        self.status = "Failed"
        self.result: str | None = None

    async def execute(self) -> int:
        logging.getLogger("k8sclaw.bus").setLevel(logging.ERROR)  # its reconnect chatter
        click.echo(
            f"local run {self.name} ({self.spec.model.provider}/{self.spec.model.model})", err=True
        )
        self.dirs.create()
        write_skills(self.spec.skills, self.dirs.skills)
        await self.bus.start(self.children, _layout.host_env(_layout.BASE_VARS))
        bus = await asyncio.wait_for(self._connect(), CONNECT_TIMEOUT)
        listeners = await self._listen(bus)
        try:
            return await self._run_pod()
        finally:
            for task in listeners:
                task.cancel()
            await bus.close()

    async def _connect(self) -> EventBus:
        """Connect as the controller (owner of the stream) and create the stream."""
        from k8sclaw_protocol import EventBus

        return await EventBus.connect(
            self.bus.url, name="k8sclaw-local", credentials=self.bus.controller_creds()
        )

    async def _listen(self, bus: EventBus) -> list[asyncio.Task[None]]:
        """Consume what the run's bridge publishes (not the chunks: stdout shows them)."""
        from k8sclaw_protocol import busauth, events

        tasks = []
        for topic in busauth.RUN_OUTBOUND:
            if topic == events.AGENT_STREAM_CHUNK:
                continue
            sub = bus.subscribe(events.scoped_filter(topic, NAMESPACE, self.name), deliver="all")
            await sub.start()
            tasks.append(asyncio.create_task(self._record(sub)))
        return tasks

    async def _record(self, sub: Subscription) -> None:
        from k8sclaw_protocol import events

        try:
            async for event in sub:
                self.writer.add("event", f"{event.topic} {json.dumps(event.data)}")
                if event.topic in (events.AGENT_RUN_COMPLETED, events.AGENT_RUN_FAILED):
                    await self.results.put(event)
        finally:
            with contextlib.suppress(Exception):
                await sub.close()

    async def _run_pod(self) -> int:
        """Start sandbox, bridge and agent; print the agent's log; judge the outcome."""
        sandbox = await self._start("sandbox", self._sandbox_env(), stderr=True)
        bridge = await self._start("bridge", self._bridge_env(), stderr=True)
        relays = [asyncio.create_task(self._relay_stderr(p)) for p in (sandbox, bridge)]
        agent = await self._start("agent", self._agent_env(), stdout=True)
        printer = RecordingPrinter(self.writer)
        deadline = self.spec.timeout_seconds + EXIT_MARGIN
        try:
            await asyncio.wait_for(self._pump(agent, printer), deadline)
            await asyncio.wait_for(agent.wait(), deadline)
        except TimeoutError:
            click.echo(f"error: the run did not end within {deadline:.0f}s", err=True)
            return 1
        finally:
            printer.close()
        outcome = await self._outcome(printer)
        with contextlib.suppress(TimeoutError):  # the bridge exits once its result is out
            await asyncio.wait_for(asyncio.shield(relays[1]), RESULT_WAIT)
        return outcome

    async def _outcome(self, printer: RecordingPrinter) -> int:
        """0 when the bridge published a successful result; 1 otherwise (the error shown)."""
        try:
            event = await asyncio.wait_for(self.results.get(), RESULT_WAIT)
        except TimeoutError:
            click.echo("error: the agent's result did not reach the bus", err=True)
            return 1
        data = event.data if isinstance(event.data, dict) else {}
        if data.get("status") == "success":
            self.status, self.result = "Succeeded", printer.response or data.get("response")
            return 0
        error = str(data.get("error") or "the agent failed")
        self.result = error
        click.echo(f"error: local run {self.name} failed: {terminal_safe(error)}", err=True)
        return 1

    async def _start(
        self, component: str, env: dict[str, str], *, stdout: bool = False, stderr: bool = False
    ) -> asyncio.subprocess.Process:
        pipe = asyncio.subprocess.PIPE
        return await self.children.start(
            component,
            [_layout.entry_point(component)],
            env,
            cwd=self.dirs.workspace,
            stdout=pipe if stdout else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.STDOUT if stdout else (pipe if stderr else None),
        )

    async def _pump(self, agent: asyncio.subprocess.Process, printer: RecordingPrinter) -> None:
        """The agent's stdout and stderr (one stream, like a pod log) to the printer."""
        assert agent.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while chunk := await agent.stdout.read(READ_SIZE):
            printer.feed(decoder.decode(chunk))
        printer.feed(decoder.decode(b"", final=True))

    async def _relay_stderr(self, proc: asyncio.subprocess.Process) -> None:
        """The log of the sandbox or bridge: warnings into the transcript, errors also to
        stderr (their INFO lines, and the warning each bus client logs as it closes, are
        not for the terminal)."""
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = terminal_safe(raw.decode(errors="replace").rstrip())
            if not line or _chatter(line):
                continue
            self.writer.add("log", line)
            if _level(line) not in ("WARNING", "INFO", "DEBUG"):
                click.echo(line, err=True)

    def _agent_env(self) -> dict[str, str]:
        spec = self.spec
        allow, deny = tools_for(spec.policy)
        return {
            **_layout.host_env(_layout.BASE_VARS + _layout.NETWORK_VARS),
            "AGENT_RUN_ID": self.name,
            "AGENT_ID": "local",
            "INSTANCE_NAME": _layout.INSTANCE,
            "TASK": spec.task,
            "SPAWN_DEPTH": "0",
            "EVENT_BUS_URL": self.bus.url,
            "K8SCLAW_RUN_DEADLINE_SECONDS": str(int(spec.timeout_seconds)),
            **spec.model.agent_env(_layout.host_env(tuple(_model_key_vars(spec.model)))),
            **_layout.tool_env(allow, deny),
            **self.dirs.env("IPC", "WORKSPACE", "SKILLS", "MEMORY", "TMP", "SANDBOX_IPC"),
        }

    def _bridge_env(self) -> dict[str, str]:
        from k8sclaw_protocol import busauth

        allow, deny = tools_for(self.spec.policy)
        creds = self.bus.run_creds(NAMESPACE, self.name, self.uid, self.spec.timeout_seconds)
        return {
            **_layout.host_env(_layout.BASE_VARS),
            "AGENT_RUN_ID": self.name,
            "INSTANCE_NAME": _layout.INSTANCE,
            "POD_NAMESPACE": NAMESPACE,
            "EVENT_BUS_URL": self.bus.url,
            busauth.ENV_BUS_CREDS_DIR: str(creds.parent),
            busauth.ENV_RUN_UID: self.uid,
            busauth.ENV_RUN_CREATED: _layout.created_now(),
            busauth.ENV_RESULT_TIMEOUT: _layout.BRIDGE_RESULT_TIMEOUT,
            **_layout.tool_env(allow, deny),
            **self.dirs.env("IPC"),
        }

    def _sandbox_env(self) -> dict[str, str]:
        return {
            **_layout.host_env(_layout.BASE_VARS),
            "TMPDIR": str(self.dirs.tmp),
            **self.dirs.env("SANDBOX_IPC", "WORKSPACE", "TMP"),
        }

    async def close(self, status: str | None = None) -> None:
        await self.children.stop_all()
        self.writer.finish(status or self.status, self.result)


def _level(line: str) -> str:
    """The level of a sidecar log line (`<date> <time> <component> <LEVEL> ...`)."""
    fields = line.split(" ", 4)
    return fields[3] if len(fields) > 3 else ""


def _model_key_vars(model: ModelConfig) -> list[str]:
    return [model.api_key_var] if model.api_key_var else []


async def run_local(spec: LocalRun) -> int:
    """Run `spec` to its end; a cancellation (Ctrl-C) stops every process and re-raises."""
    root = Path(tempfile.mkdtemp(prefix="k8sclaw-local-"))
    session: Session | None = None
    status = None
    try:
        session = Session(spec, root)
        return await session.execute()
    except asyncio.CancelledError:
        status = "Interrupted"
        raise
    finally:
        if session is not None:
            await session.close(status)
        shutil.rmtree(root, ignore_errors=True)
