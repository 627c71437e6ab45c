"""The built-in tools: JSON schemas offered to the model, the policy filter, dispatch.

Only tools the run's policy allows are offered; a call to any other tool (a model
forging a name it was never given) is refused and reported back as an error result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

from k8sclaw_protocol import (
    CHANNEL_TYPES,
    ExecRequest,
    ExecResult,
    IpcLayout,
    MemoryUpdate,
    OutboundMessage,
    SpawnRequest,
    ipc,
    names,
)
from k8sclaw_sidecar import _watch
from k8sclaw_sidecar.agent import _approval, _fetch, _files, _subagent
from k8sclaw_sidecar.agent._files import ToolError
from k8sclaw_sidecar.agent._settings import AgentSettings

MAX_EXEC_TIMEOUT = 120
EXEC_OUTPUT_CAP = 50_000


def _spec(
    name: str, description: str, props: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    params = {"type": "object", "properties": props, "required": required}
    return {"name": name, "description": description, "parameters": params}


_S = {"type": "string"}
TOOLS: dict[str, dict[str, Any]] = {
    t["name"]: t
    for t in (
        _spec(
            names.TOOL_EXECUTE_COMMAND,
            "Run a shell command in the sandbox, in /workspace unless workdir is given.",
            {"command": _S, "workdir": _S, "timeout": {"type": "integer", "maximum": 120}},
            ["command"],
        ),
        _spec(
            names.TOOL_READ_FILE,
            "Read a file under /workspace, /tmp or /skills.",
            {"path": _S},
            ["path"],
        ),
        _spec(
            names.TOOL_WRITE_FILE,
            "Write a file under /workspace or /tmp (parents created).",
            {"path": _S, "content": _S},
            ["path", "content"],
        ),
        _spec(
            names.TOOL_LIST_DIRECTORY, "List a directory: kind, size, name.", {"path": _S}, ["path"]
        ),
        _spec(
            names.TOOL_FETCH_URL,
            "HTTP(S) GET a public URL and return its text.",
            {"url": _S, "maxChars": {"type": "integer", "maximum": 100000}},
            ["url"],
        ),
        _spec(
            names.TOOL_SEND_CHANNEL_MESSAGE,
            "Send a message on a chat channel (empty chatId: the owner's chat).",
            {
                "channel": {"enum": list(CHANNEL_TYPES)},
                "text": _S,
                "chatId": _S,
            },
            ["channel", "text"],
        ),
        _spec(
            names.TOOL_SPAWN_SUBAGENT,
            "Delegate a task to a sub-agent run and wait for its answer.",
            {"task": _S, "systemPrompt": _S, "skills": {"type": "array", "items": _S}},
            ["task"],
        ),
        _spec(
            names.TOOL_UPDATE_MEMORY,
            "Save what future runs should remember (append, or replace the whole memory).",
            {"content": _S, "mode": {"enum": ["append", "replace"]}},
            ["content"],
        ),
    )
}


def allowed_tools(allow: frozenset[str] | None, deny: frozenset[str]) -> list[str]:
    """Tool names offered to the model: the allow-list (every tool when None; an empty
    list offers none) minus the deny-list."""
    return [n for n in TOOLS if (allow is None or n in allow) and n not in deny]


class Toolbox:
    """Runs tool calls for one agent run; counts what the metrics report."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.layout = IpcLayout(settings.paths.ipc)
        self.sandbox = IpcLayout(settings.paths.sandbox_ipc)
        """The exchange with the sandbox container (never `/ipc`: see `_executor`)."""
        self.offered = allowed_tools(settings.tools_allow, settings.tools_deny)
        self.spawns = 0

    def schemas(self) -> list[dict[str, Any]]:
        return [TOOLS[n] for n in self.offered]

    async def call(self, name: str, args: dict[str, Any]) -> tuple[str, bool]:
        """Run one call; returns (output, is_error). Never raises for the model's mistakes."""
        if name not in self.offered:
            return f"Error: tool {name!r} is not allowed for this run (tool policy)", True
        if "__invalid__" in args:
            return "Error: the tool arguments were not a JSON object", True
        if name in self.settings.tools_ask:
            timeout = self.settings.approval_timeout
            verdict = await _approval.ask(self.layout, name, args, timeout)
            if not verdict.approved:
                return (
                    f"Error: the call to {name} was refused ({verdict.reason}); it did not run",
                    True,
                )
        try:
            return await self._dispatch(name, args), False
        except ToolError as exc:
            return f"Error: {exc}", True
        except (TypeError, KeyError, ValueError) as exc:
            return f"Error: bad arguments for {name}: {exc}", True

    async def _dispatch(self, name: str, a: dict[str, Any]) -> str:
        handler = getattr(self, f"_tool_{name}")
        result: str = await handler(a)
        return result

    async def _tool_read_file(self, a: dict[str, Any]) -> str:
        return _files.read_file(self.settings.paths, str(a["path"]))

    async def _tool_write_file(self, a: dict[str, Any]) -> str:
        return _files.write_file(self.settings.paths, str(a["path"]), str(a["content"]))

    async def _tool_list_directory(self, a: dict[str, Any]) -> str:
        return _files.list_directory(self.settings.paths, str(a.get("path") or "/workspace"))

    async def _tool_fetch_url(self, a: dict[str, Any]) -> str:
        limit = int(a.get("maxChars") or 0)
        allow = self.settings.fetch_allow_networks
        return await _fetch.fetch_url(str(a["url"]), limit, allow_networks=allow)

    async def _tool_send_channel_message(self, a: dict[str, Any]) -> str:
        channel = str(a["channel"])
        if channel not in CHANNEL_TYPES:
            raise ToolError(f"unknown channel {channel!r}; use one of {', '.join(CHANNEL_TYPES)}")
        msg = OutboundMessage(channel=channel, chat_id=a.get("chatId") or None, text=a["text"])
        ipc.write_atomic(self.layout.messages / ipc.unique_name("send"), msg)
        return f"message queued for {msg.channel}"

    async def _tool_spawn_subagent(self, a: dict[str, Any]) -> str:
        req = SpawnRequest(
            task=a["task"],
            system_prompt=a.get("systemPrompt"),
            agent_id=self.settings.agent_id,
            skills=a.get("skills"),
            request_id=_subagent.new_request_id(),
        )
        assert req.request_id is not None
        _subagent.request(self.layout, req)
        self.spawns += 1
        timeout = self.settings.subagent_timeout
        return _subagent.render(
            await _subagent.wait_for_result(self.layout, req.request_id, timeout)
        )

    async def _tool_update_memory(self, a: dict[str, Any]) -> str:
        mode = str(a.get("mode") or "append")
        if mode not in ("append", "replace"):
            raise ToolError("mode must be append or replace")
        update = MemoryUpdate(content=str(a["content"]), mode=mode)
        ipc.write_atomic(self.layout.memory / ipc.unique_name("update"), update)
        return "memory update submitted; the platform applies it for the next runs"

    async def _tool_execute_command(self, a: dict[str, Any]) -> str:
        """Hand the command to the sandbox through `/ipc-sandbox/tools` and wait for its
        result, read with the safe reader (the sandbox is not trusted either)."""
        timeout = max(1, min(int(a.get("timeout") or self.settings.exec_timeout), MAX_EXEC_TIMEOUT))
        req = ExecRequest(
            id=uuid.uuid4().hex[:12],
            command=str(a["command"]),
            work_dir=a.get("workdir") or None,
            timeout=timeout,
        )
        if not self.sandbox.root.is_dir():
            raise ToolError("the sandbox is not enabled for this run; commands cannot run")
        self.sandbox.ensure()
        result_path = self.sandbox.exec_result(req.id)
        stop = asyncio.Event()
        deadline = time.monotonic() + timeout + 10
        ipc.write_atomic(self.sandbox.exec_request(req.id), req, root=self.sandbox.root)
        async for batch in _watch.watch_files(self.sandbox.tools, stop, lambda p: p == result_path):
            if batch or time.monotonic() > deadline:
                stop.set()
        with contextlib.suppress(FileNotFoundError, ipc.QuarantinedError):
            result, _ = ipc.read_validated(self.sandbox, result_path, ExecResult)
            return format_exec(result)
        raise ToolError(
            f"no valid result from the sandbox within {timeout + 10}s; "
            "is the sandbox enabled for this run?"
        )


def format_exec(result: ExecResult) -> str:
    """Render an exec result for the model, capped."""
    parts = [result.stdout] if result.stdout else []
    if result.stderr:
        parts.append(f"STDERR: {result.stderr}")
    if result.timed_out:
        parts.append("(command timed out)")
    if result.exit_code:
        parts.append(f"(exit code: {result.exit_code})")
    text = "\n".join(parts) or "(no output)"
    return text[:EXEC_OUTPUT_CAP]


def describe_call(name: str, args: dict[str, Any]) -> str:
    return f"{name}({json.dumps(args, ensure_ascii=False)[:500]})"
