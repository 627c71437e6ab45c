"""The agent run: task → tool loop → stream/status files → result.json, marker, /ipc/done.

The loop continues while the model asks for tools (presence of tool calls decides,
never the finish reason), up to the iteration cap and the overall deadline; tokens
are summed across turns; answer text is streamed into chunk files as the provider
produces it (coalesced by `_chunks.TextChunks`) and the same pieces are echoed on stdout
with one line per tool call (`_console`), so `kubectl logs -f` follows the answer;
protocol markers are stripped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from k8sclaw_protocol import (
    AgentResult,
    IpcLayout,
    ResultMetrics,
    StatusUpdate,
    StreamChunk,
    TaskInput,
    ipc,
)
from k8sclaw_sidecar.agent import _chunks, _console, _prompt, _providers, _tools
from k8sclaw_sidecar.agent._settings import AgentSettings

log = logging.getLogger("k8sclaw.agent")


class RunError(Exception):
    """The run cannot produce an answer; the message becomes the result's error."""


class BudgetReachedError(RunError):
    """The run reached its per-run cap before its answer; `said` is what it had said."""

    def __init__(self, message: str, said: str) -> None:
        super().__init__(message)
        self.said = said


class AgentRunner:
    """One run; `run()` writes every output and returns the result."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.layout = IpcLayout(settings.paths.ipc)
        self.toolbox = _tools.Toolbox(settings)
        self.metrics = ResultMetrics()
        self.secrets = (settings.api_key, *_console.env_secrets())
        self.console = _console.Console(secrets=self.secrets)
        self._chunk = 0

    def _read_task(self) -> str:
        if self.settings.task:
            return self.settings.task
        try:
            raw = ipc.read_bytes(self.layout, self.layout.task)
        except FileNotFoundError:
            raw = None
        except OSError as exc:
            raise RunError(f"input/task.json cannot be read: {exc}") from exc
        if raw is not None:
            try:
                return TaskInput.model_validate_json(raw).task
            except ValueError as exc:
                raise RunError(f"input/task.json is invalid: {exc}") from exc
        raise RunError("no task: set TASK or write /ipc/input/task.json")

    def stream(self, kind: str, content: str, tool_id: str | None = None) -> None:
        chunk = StreamChunk.model_validate(
            {
                "type": kind,
                "content": ipc.strip_markers(content),
                "toolId": tool_id,
                "index": self._chunk,
            }
        )
        ipc.write_atomic(self.layout.stream_chunk(self._chunk), chunk)
        self._chunk += 1

    def status(self, phase: str, message: str | None = None, tool_id: str | None = None) -> None:
        update = StatusUpdate.model_validate(
            {"phase": phase, "message": message, "toolId": tool_id}
        )
        ipc.write_atomic(self.layout.status, update)

    async def run(self) -> AgentResult:
        started = time.monotonic()
        try:
            response = await self._run_bounded()
            result = AgentResult(status="success", response=response)
        except BudgetReachedError as exc:
            self.console.end_line()
            log.error("%s", exc)
            result = AgentResult(
                status="error",
                stop_reason="budget",
                response=ipc.strip_markers(exc.said) or None,
                error=ipc.strip_markers(str(exc)),
            )
        except (RunError, _providers.ProviderError) as exc:
            self.console.end_line()  # the log line must not continue a half-written answer
            log.error("%s", _console.for_log(str(exc), self.secrets))
            error = _console.for_log(str(exc), self.secrets, limit=4000)
            result = AgentResult(status="error", error=ipc.strip_markers(error))
        self.metrics.duration_ms = int((time.monotonic() - started) * 1000)
        self.metrics.subagent_spawns = self.toolbox.spawns
        result.metrics = self.metrics
        return result

    async def _run_bounded(self) -> str:
        try:
            async with asyncio.timeout(self.settings.deadline_seconds):
                return await self._loop()
        except TimeoutError as exc:
            raise RunError(
                f"run deadline of {self.settings.deadline_seconds:g}s exceeded; the model or "
                "a tool was still busy (raise K8SCLAW_RUN_DEADLINE_SECONDS or spec.timeout)"
            ) from exc

    async def _loop(self) -> str:
        self.layout.ensure()
        task = self._read_task()
        system = _prompt.build_system_prompt(
            self.settings.system_prompt,
            self.settings.paths,
            self.toolbox.offered,
            self.settings.tools_ask,
        )
        provider = _providers.make_provider(self.settings, system, task)
        try:
            return await self._turns(provider)
        finally:
            await provider.close()

    async def _turns(self, provider: _providers.Provider) -> str:
        said: list[str] = []
        for _ in range(self.settings.max_iterations):
            self.status("thinking")
            chunks = _chunks.TextChunks(self._answer_text)
            try:
                turn = await provider.complete(self.toolbox.schemas(), chunks.feed)
            finally:
                chunks.flush(final=True)
            self.metrics.input_tokens += max(0, turn.input_tokens)
            self.metrics.output_tokens += max(0, turn.output_tokens)
            if turn.text:
                said.append(turn.text)
            if not turn.tool_calls:
                self.status("responding")
                # Reasoning models may end with empty text: fall back to what was said.
                return _chunks.clean_text(turn.text or "\n\n".join(said))
            self._check_budget(said)
            results = []
            for call in turn.tool_calls:
                results.append((call, *await self._call_tool(call)))
            provider.add_tool_results(turn, results)
        raise RunError(f"the model still wanted tools after {self.settings.max_iterations} turns")

    def _check_budget(self, said: list[str]) -> None:
        """Stop before the next tool round once the run's own usage reached its cap (an
        answer that arrives as the cap is crossed is kept: it cost nothing more)."""
        reached = self.settings.budget.reached(
            self.metrics.input_tokens, self.metrics.output_tokens
        )
        if reached is not None:
            said_text = _chunks.clean_text("\n\n".join(said))
            raise BudgetReachedError(f"the run stopped at its budget: {reached}", said_text)

    def _answer_text(self, text: str) -> None:
        self.stream("text", text)
        self.console.text(text)

    async def _call_tool(self, call: _providers.ToolCall) -> tuple[str, bool]:
        self.status("tool_use", call.name, call.id)
        self.console.tool(call.name, call.arguments)
        self.stream("tool_use", _tools.describe_call(call.name, call.arguments), call.id)
        self.metrics.tool_calls += 1
        output, is_error = await self.toolbox.call(call.name, call.arguments)
        if is_error:
            log.warning(
                "tool %s refused or failed: %s",
                call.name,
                _console.for_log(output, self.secrets),
            )
        self.stream("tool_result", output, call.id)
        return output, is_error


def finish(
    layout: IpcLayout,
    result: AgentResult,
    console: _console.Console | None = None,
    sandbox: IpcLayout | None = None,
) -> int:
    """Write result.json, print the marker line, then /ipc/done; returns the exit code.

    `console` is the run's (it knows whether the answer left a line open); without it the
    marker line is started with a newline to be safe. `sandbox`: the sandbox's exchange
    dir, told `done` too so its executor exits (when the pod has one).
    """
    layout.ensure()
    ipc.write_atomic(layout.result, result)
    if console is None:
        console = _console.Console()
        console.text("\n")
    console.result(result)
    done = json.dumps({"status": result.status}).encode()
    ipc.write_atomic(layout.done, done)
    if sandbox is not None and sandbox.root.is_dir():
        try:
            ipc.write_atomic(sandbox.done, done, root=sandbox.root)
        except OSError as exc:  # the sandbox's volume is its own; the run is done anyway
            log.warning("cannot tell the sandbox the run is done: %s", exc)
    return 0 if result.status == "success" else 1
