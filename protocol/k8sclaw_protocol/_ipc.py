"""The `/ipc` file protocol between the agent, the IPC bridge and the sandbox.

One module holds the directory layout, the typed JSON shapes (reference §3.4, with
`chatId` instead of `target`), the atomic writer (tmp + rename, so no reader ever
sees a partial file) and the validating reader that moves malformed files into
`<ipc>/errors/` with a reason file instead of crashing (reference §15).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from k8sclaw_protocol import _events, _names

TMP_SUFFIX: Final = ".tmp"
# The stdout result markers, spelled once in `names` (the controller parses them too).
RESULT_MARKER: Final = _names.RESULT_MARKER_START
END_MARKER: Final = _names.RESULT_MARKER_END
_DIR_MODE: Final = 0o750
_FILE_MODE: Final = 0o640


class IpcModel(BaseModel):
    """Base of every IPC file shape: camelCase on the wire, unknown keys ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_json_bytes(self) -> bytes:
        """Serialise with wire names, leaving unset optionals out."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class ModelRef(IpcModel):
    """Provider and model of a task."""

    provider: str
    model: str
    thinking: str | None = None


class TaskInput(IpcModel):
    """`input/task.json`: the task when it is not passed through the environment."""

    task: str
    system_prompt: str | None = None
    agent_id: str = ""
    session_key: str = ""
    model: ModelRef | None = None
    tools: list[str] | None = None
    context: Any = None


class ResultMetrics(IpcModel):
    """Usage figures of a finished run; never negative (they end up in CR status)."""

    duration_ms: int = Field(default=0, ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    tool_calls: int = Field(default=0, ge=0)
    subagent_spawns: int = Field(default=0, ge=0)


class AgentResult(IpcModel):
    """`output/result.json`: the outcome of the run."""

    status: Literal["success", "error"]
    response: str | None = None
    error: str | None = None
    metrics: ResultMetrics = Field(default_factory=ResultMetrics)


class StreamChunk(IpcModel):
    """`output/stream-<n>.json`: one piece of the agent's visible work."""

    type: Literal["text", "thinking", "tool_use", "tool_result"]
    content: str
    tool_id: str | None = None
    index: int = Field(ge=0)


class StatusUpdate(IpcModel):
    """`output/status.json`: what the agent is doing right now."""

    phase: Literal["thinking", "tool_use", "responding"]
    message: str | None = None
    tool_id: str | None = None


class SpawnRequest(IpcModel):
    """`spawn/request-*.json`: the agent asks for a sub-agent run."""

    task: str = Field(min_length=1)
    system_prompt: str | None = None
    agent_id: str = ""
    skills: list[str] | None = None


class ExecRequest(IpcModel):
    """`tools/exec-request-<id>.json`: a command for the sandbox (raw string, no `sh -c`)."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    command: str = Field(min_length=1)
    args: list[str] | None = None
    work_dir: str | None = None
    timeout: int | None = Field(default=None, ge=1)
    stdin: str | None = None


class ExecResult(IpcModel):
    """`tools/exec-result-<id>.json`: what the sandbox observed."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False


class OutboundMessage(IpcModel):
    """`messages/send-*.json`: a reply for a chat channel (`chatId` as the channels use)."""

    channel: str = Field(min_length=1)
    chat_id: str | None = None
    text: str
    format: Literal["plain", "markdown", "html"] | None = None
    metadata: dict[str, str] | None = None


@dataclass(frozen=True)
class IpcLayout:
    """Paths under one `/ipc` root; the same code runs in a pod and on a temp dir."""

    root: Path

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def spawn(self) -> Path:
        return self.root / "spawn"

    @property
    def tools(self) -> Path:
        return self.root / "tools"

    @property
    def messages(self) -> Path:
        return self.root / "messages"

    @property
    def errors(self) -> Path:
        return self.root / "errors"

    @property
    def task(self) -> Path:
        return self.input / "task.json"

    @property
    def result(self) -> Path:
        return self.output / "result.json"

    @property
    def status(self) -> Path:
        return self.output / "status.json"

    @property
    def done(self) -> Path:
        return self.root / "done"

    def stream_chunk(self, index: int) -> Path:
        return self.output / f"stream-{index}.json"

    def exec_request(self, exec_id: str) -> Path:
        return self.tools / f"exec-request-{exec_id}.json"

    def exec_result(self, exec_id: str) -> Path:
        return self.tools / f"exec-result-{exec_id}.json"

    def ensure(self) -> None:
        """Create every subdirectory (idempotent; any container may start first)."""
        for d in (self.input, self.output, self.spawn, self.tools, self.messages, self.errors):
            d.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)


def unique_name(prefix: str) -> str:
    """`<prefix>-<unix nanos>.json`, unique within one writer process."""
    return f"{prefix}-{time.time_ns()}.json"


def write_atomic(path: Path, payload: bytes | IpcModel) -> Path:
    """Write `path` via `<path>.tmp` + rename so readers never see a partial file."""
    data = payload.to_json_bytes() if isinstance(payload, IpcModel) else payload
    tmp = path.with_name(path.name + TMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def is_ignored(path: Path) -> bool:
    """Files no reader acts on: temp files, hidden claim markers."""
    return path.name.endswith(TMP_SUFFIX) or path.name.startswith(".")


_ROUTES: Final[tuple[tuple[str, re.Pattern[str], type[IpcModel], str], ...]] = (
    ("output", re.compile(r"^result\.json$"), AgentResult, _events.AGENT_RUN_COMPLETED),
    ("output", re.compile(r"^status\.json$"), StatusUpdate, _events.AGENT_STATUS_UPDATE),
    ("output", re.compile(r"^stream-.*\.json$"), StreamChunk, _events.AGENT_STREAM_CHUNK),
    ("spawn", re.compile(r"^.*\.json$"), SpawnRequest, _events.AGENT_SPAWN_REQUEST),
    ("tools", re.compile(r"^exec-request.*\.json$"), ExecRequest, _events.TOOL_EXEC_REQUEST),
    ("messages", re.compile(r"^.*\.json$"), OutboundMessage, _events.CHANNEL_MESSAGE_SEND),
)


@dataclass(frozen=True)
class Route:
    """Which shape a file must have and which topic the bridge publishes it on."""

    model: type[IpcModel]
    topic: str


def route_for(layout: IpcLayout, path: Path) -> Route | None:
    """The bridge's file → topic mapping (reference §3.4); None for files it ignores."""
    if is_ignored(path) or path.parent.parent != layout.root:
        return None
    for directory, pattern, model, topic in _ROUTES:
        if path.parent.name == directory and pattern.match(path.name):
            return Route(model, topic)
    return None


M = TypeVar("M", bound=IpcModel)


class QuarantinedError(Exception):
    """A file failed validation and was moved to `<ipc>/errors/`."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path.name}: {reason}")
        self.path = path
        self.reason = reason


def quarantine(layout: IpcLayout, path: Path, reason: str) -> Path:
    """Move a bad file into `errors/` next to a `.reason` file; returns the new path."""
    layout.errors.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    stamp = time.time_ns()
    target = layout.errors / f"{stamp}-{path.parent.name}-{path.name}"
    os.replace(path, target)
    write_atomic(target.with_name(target.name + ".reason"), reason.encode())
    return target


def read_validated(layout: IpcLayout, path: Path, model: type[M]) -> tuple[M, bytes]:
    """Read and validate one file; a malformed one is quarantined and `QuarantinedError` raised.

    Returns the parsed model and the raw bytes (the bridge publishes the parsed JSON).
    FileNotFoundError passes through: a vanished file is nobody's error.
    """
    raw = path.read_bytes()
    try:
        return model.model_validate_json(raw), raw
    except ValidationError as exc:
        reason = _short_reason(exc)
    moved = quarantine(layout, path, reason)
    raise QuarantinedError(moved, reason)


def _short_reason(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    parts = [f"{'.'.join(str(x) for x in e['loc']) or '<root>'}: {e['msg']}" for e in errors[:5]]
    return f"invalid {exc.title}: " + "; ".join(parts)


def strip_markers(text: str) -> str:
    """Remove protocol markers from text an agent produced (they must never leak or forge)."""
    return text.replace(RESULT_MARKER, "").replace(END_MARKER, "")


def result_line(result: AgentResult) -> str:
    """The stdout fallback line the controller parses from the agent's log."""
    return f"{RESULT_MARKER}{result.model_dump_json(by_alias=True)}{END_MARKER}"


def result_payload(log: str) -> dict[str, Any] | None:
    """The JSON object of the last result marker block in a log, unvalidated (None if
    there is none or it is not a JSON object). The controller reads it leniently
    (clamping junk metrics rather than rejecting the result); `parse_result_line` strictly."""
    start = log.rfind(RESULT_MARKER)
    if start < 0:
        return None
    end = log.find(END_MARKER, start)
    if end < 0:
        return None
    try:
        payload = json.loads(log[start + len(RESULT_MARKER) : end])
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def parse_result_line(log: str) -> AgentResult | None:
    """Find the last result marker in a log; untrusted input, so validated (None if bad)."""
    payload = result_payload(log)
    if payload is None:
        return None
    try:
        return AgentResult.model_validate(payload)
    except ValidationError:
        return None
