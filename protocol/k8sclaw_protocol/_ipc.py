"""The `/ipc` file protocol between the agent, the IPC bridge and the sandbox.

One module holds the directory layout, the typed JSON shapes (reference §3.4, with
`chatId` instead of `target`), the atomic writer (tmp + rename, so no reader ever
sees a partial file) and the validating reader that moves malformed files into
`<ipc>/errors/` with a reason file instead of crashing (reference §15).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from k8sclaw_protocol import _events, _names, _safefs

TMP_SUFFIX: Final = ".tmp"
# The stdout result markers, spelled once in `names` (the controller parses them too).
RESULT_MARKER: Final = _names.RESULT_MARKER_START
END_MARKER: Final = _names.RESULT_MARKER_END
_DIR_MODE: Final = 0o750
_FILE_MODE: Final = 0o640
MAX_FILE_BYTES: Final = 4 * 1024 * 1024
"""The largest `/ipc` file anyone reads; bigger files are quarantined unread (the bus
caps what it carries further; this bounds the reader's memory)."""


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
    stop_reason: Literal["budget"] | None = None
    """Why the loop stopped early: `budget` when the run reached its per-run cap."""
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


REQUEST_ID_PATTERN: Final = r"^[a-z0-9]{1,32}$"


class SpawnRequest(IpcModel):
    """`spawn/request-*.json`: the agent asks for a sub-agent run."""

    task: str = Field(min_length=1)
    system_prompt: str | None = None
    agent_id: str = ""
    skills: list[str] | None = None
    request_id: str | None = Field(default=None, pattern=REQUEST_ID_PATTERN)
    """Names the child (deterministically) and matches its result to the waiting call."""


class SubagentResult(IpcModel):
    """What became of a spawn request: the controller's answer, carried to the parent as
    an `agent.followup` (`{"subagentResult": ...}`) and written by the bridge into
    `input/followup-*.json`, where the waiting `spawn_subagent` call picks it up."""

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    run: str = ""
    """The child run's name (empty when no child was created)."""
    status: Literal["success", "error"]
    response: str | None = None
    error: str | None = None


FOLLOWUP_SUBAGENT_KEY: Final = "subagentResult"
"""Key of a `SubagentResult` in an `agent.followup` payload."""


class MemoryUpdate(IpcModel):
    """`memory/update-*.json`: the agent proposes a change to its instance's memory.

    Untrusted: the controller caps, strips and applies it (the pod cannot write the
    memory ConfigMap itself)."""

    content: str = Field(max_length=256 * 1024)
    mode: Literal["append", "replace"] = "append"


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


MAX_APPROVAL_SUMMARY_BYTES: Final = 2048
"""Cap, in UTF-8 bytes, on what an approval request says about the call (the command line,
the URL...): it is shown verbatim on approval cards, in Events and in AgentRun status."""
DEFAULT_APPROVAL_TIMEOUT: Final = 600
"""Seconds a call to an `ask` tool waits for a decision when the policy names none."""


def _fits_bytes(value: str, cap: int, what: str) -> str:
    if len(value.encode()) > cap:
        raise ValueError(f"{what} is longer than {cap} bytes; shorten it")
    return value


class ApprovalRequest(IpcModel):
    """`approvals/request-<id>.json`: a call to an `ask`-gated tool waiting for a person.

    Written by the agent (hostile), published by the bridge on
    `tool.approval.request.<ns>.<run>`; the run is the subject's, never the payload's."""

    id: str = Field(pattern=REQUEST_ID_PATTERN)
    tool: str = Field(min_length=1, max_length=64)
    summary: str = ""
    """What the call would do (tool arguments), at most `MAX_APPROVAL_SUMMARY_BYTES`."""
    timeout_seconds: int = Field(default=DEFAULT_APPROVAL_TIMEOUT, ge=1, le=86400)

    @field_validator("summary")
    @classmethod
    def _summary_cap(cls, value: str) -> str:
        return _fits_bytes(value, MAX_APPROVAL_SUMMARY_BYTES, "summary")


class ApprovalDecision(IpcModel):
    """A person's answer to an `ApprovalRequest`: on `tool.approval.response.<ns>.<run>`
    (published by the controller, API server or chat relay) and, for ids the run asked,
    as `approvals/decision-<id>.json` written by the bridge for the waiting call."""

    id: str = Field(pattern=REQUEST_ID_PATTERN)
    decision: Literal["approve", "deny"]
    decided_by: str = Field(default="", max_length=512)
    """Who decided, as the deciding component authenticated them (never self-declared)."""
    via: str = Field(default="", max_length=64)
    """Where: `kubernetes`, `api`, `channel:<type>`, or `timeout`."""
    reason: str | None = Field(default=None, max_length=1024)
    decided_at: str | None = Field(default=None, max_length=64)
    """RFC 3339 time of the decision."""


def approval_summary(args: dict[str, Any]) -> str:
    """The tool arguments as one line of JSON, cut to `MAX_APPROVAL_SUMMARY_BYTES`."""
    text = json.dumps(args, ensure_ascii=False, sort_keys=True)
    data = text.encode()
    if len(data) <= MAX_APPROVAL_SUMMARY_BYTES:
        return text
    cut = data[: MAX_APPROVAL_SUMMARY_BYTES - 4].decode(errors="ignore")
    return cut + " …"


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
    def memory(self) -> Path:
        return self.root / "memory"

    @property
    def errors(self) -> Path:
        return self.root / "errors"

    @property
    def approvals(self) -> Path:
        return self.root / "approvals"

    def approval_request(self, approval_id: str) -> Path:
        return self.approvals / f"request-{approval_id}.json"

    def approval_decision(self, approval_id: str) -> Path:
        return self.approvals / f"decision-{approval_id}.json"

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
        """Create every subdirectory (idempotent; any container may start first).

        Never raises for a name someone else took first (a file or symlink where a
        directory belongs): that entry is left for the readers, which refuse it.
        """
        self.root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        for d in (
            self.input,
            self.output,
            self.spawn,
            self.tools,
            self.messages,
            self.memory,
            self.errors,
            self.approvals,
        ):
            with contextlib.suppress(FileExistsError):
                d.mkdir(mode=_DIR_MODE, exist_ok=True)


def unique_name(prefix: str) -> str:
    """`<prefix>-<unix nanos>.json`, unique within one writer process."""
    return f"{prefix}-{time.time_ns()}.json"


def write_atomic(path: Path, payload: bytes | IpcModel, *, root: Path | None = None) -> Path:
    """Write `path` via `<path>.tmp` + rename so readers never see a partial file.

    With `root`, the parent directory is opened beneath it without following symlinks
    (the bridge writes into a tree the agent controls); the temp file is never followed.
    """
    data = payload.to_json_bytes() if isinstance(payload, IpcModel) else payload
    if root is None:
        dirfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    else:
        parent = str(path.parent.relative_to(root))
        dirfd = _safefs.open_beneath(root, parent, os.O_RDONLY | os.O_DIRECTORY)
    tmp = path.name + TMP_SUFFIX
    with _safefs.opened(dirfd):
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        with _safefs.opened(os.open(tmp, flags, _FILE_MODE, dir_fd=dirfd)) as fd:
            _safefs.require_regular(fd, tmp)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        os.replace(tmp, path.name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
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
    ("memory", re.compile(r"^update-.*\.json$"), MemoryUpdate, _events.AGENT_MEMORY_UPDATE),
    (
        "approvals",
        re.compile(r"^request-.*\.json$"),
        ApprovalRequest,
        _events.TOOL_APPROVAL_REQUEST,
    ),
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
    """Move a bad entry into `errors/` next to a `.reason` file; returns the new path.

    The entry is renamed, never opened (it may be a symlink to `/proc/self/mem` or a
    FIFO), through descriptors opened without following symlinks. If it cannot be moved
    it is unlinked; if that fails too it stays where it is (callers remember it).
    Never raises OSError.
    """
    target = f"{time.time_ns()}-{path.parent.name}-{path.name}"[:200]
    try:
        parent = str(path.parent.relative_to(layout.root))
        srcfd = _safefs.open_beneath(layout.root, parent, os.O_RDONLY | os.O_DIRECTORY)
    except (OSError, ValueError):
        return path
    with _safefs.opened(srcfd):
        try:
            with _safefs.opened(_safefs.make_dirs(layout.root, "errors")) as errfd:
                os.rename(path.name, target, src_dir_fd=srcfd, dst_dir_fd=errfd)
                _write_reason(errfd, target + ".reason", reason)
            return layout.errors / target
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(path.name, dir_fd=srcfd)
    return path


def _write_reason(dirfd: int, name: str, reason: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with (
        contextlib.suppress(OSError),
        _safefs.opened(os.open(name, flags, _FILE_MODE, dir_fd=dirfd)) as fd,
    ):
        os.write(fd, reason.encode()[:4096])


def read_bytes(layout: IpcLayout, path: Path, cap: int = MAX_FILE_BYTES) -> bytes:
    """The one safe reader of `/ipc` files: no symlink followed anywhere in the path,
    non-blocking, regular files only, at most `cap` bytes (OSError otherwise; a file
    over the cap raises `UnsafePathError`)."""
    relative = str(path.relative_to(layout.root))
    data, more = _safefs.read_regular(layout.root, relative, cap)
    if more:
        raise _safefs.UnsafePathError(errno.EFBIG, f"{path.name} is larger than {cap} bytes")
    return data


def read_validated(
    layout: IpcLayout, path: Path, model: type[M], cap: int = MAX_FILE_BYTES
) -> tuple[M, bytes]:
    """Read and validate one file; a bad one is quarantined and `QuarantinedError` raised.

    Bad means anything but a regular file of at most `cap` bytes holding a valid
    document: symlinks, FIFOs, devices, oversized files, any OSError on open or read.
    Returns the parsed model and the raw bytes (the bridge publishes the parsed JSON).
    FileNotFoundError passes through: a vanished file is nobody's error.
    """
    try:
        raw = read_bytes(layout, path, cap)
        return model.model_validate_json(raw), raw
    except FileNotFoundError:
        raise
    except ValidationError as exc:
        reason = _short_reason(exc)
    except (OSError, ValueError) as exc:
        reason = f"unreadable: {exc}"
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
