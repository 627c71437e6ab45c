"""The agent's stdout (its container log): streamed answer, tool lines, the marker line last.

Also the two readers of that log: the controller's completion path (`_outcome.from_log`,
on the tail the pod log API returns) and `AgentLogReader` (the CLI's and TUI's follower).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from k8sclaw_controllers.manager import _completion, _outcome
from k8sclaw_protocol import AgentLogReader, IpcLayout, LogPiece, ipc, names
from k8sclaw_sidecar._settings import PodPaths
from k8sclaw_sidecar.agent import AgentRunner, finish
from k8sclaw_sidecar.agent._console import Console, describe_tool_call
from tests.harness.llm import ScriptedLLM, calls, error, text, tool
from tests.sidecar.conftest import agent_settings

MARKER = names.RESULT_MARKER_START


class Recorder:
    """A stdout stand-in that wakes a waiter on every write."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.wrote = asyncio.Event()

    def write(self, text: str) -> int:
        self.parts.append(text)
        self.wrote.set()
        return len(text)

    def flush(self) -> None:
        pass

    @property
    def value(self) -> str:
        return "".join(self.parts)


async def _run(pod: PodPaths, llm: ScriptedLLM, provider: str = "openai") -> tuple[str, Any]:
    """Run the agent to the end; its whole stdout and result."""
    runner = AgentRunner(agent_settings(pod, provider, llm.base_url(provider)))
    out = Recorder()
    runner.console = Console(out, secrets=("sk-test",))  # type: ignore[arg-type]
    result = await runner.run()
    finish(IpcLayout(pod.ipc), result, runner.console)
    return out.value, result


def _text_chunks(pod: PodPaths) -> str:
    found = [json.loads(p.read_text()) for p in (pod.ipc / "output").glob("stream-*.json")]
    found.sort(key=lambda c: c["index"])
    return "".join(c["content"] for c in found if c["type"] == "text")


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_stdout_has_the_answer_one_line_per_tool_and_the_marker_last(
    provider: str, llm: ScriptedLLM, pod: PodPaths
) -> None:
    llm.script(
        calls(tool("write_file", path="a.txt", content="hello"), say="Writing."),
        calls(tool("list_directory", path="/workspace\n")),
        text("All done: hello"),
    )
    out, result = await _run(pod, llm, provider)
    assert result.status == "success", result.error
    lines = out.split("\n")
    assert lines[:4] == [
        "Writing.",
        "→ write_file: a.txt (5 chars)",
        "→ list_directory: /workspace",
        "All done: hello",
    ]
    assert lines[4] == ipc.result_line(result) and lines[5:] == [""], out
    assert _text_chunks(pod) == "Writing.All done: hello"  # the same pieces as the chunks


@pytest.mark.parametrize("answer", ["two\nlines", "ends with a newline\n"], ids=["open", "closed"])
async def test_the_marker_starts_its_own_line_without_a_blank_line(
    answer: str, llm: ScriptedLLM, pod: PodPaths
) -> None:
    llm.script(text(answer))
    out, result = await _run(pod, llm)
    before, marker_line, tail = out.rpartition(ipc.result_line(result))
    assert before == answer.rstrip("\n") + "\n" and tail == "\n", out
    assert marker_line.startswith(MARKER)


async def test_a_failed_run_prints_only_the_marker_line(llm: ScriptedLLM, pod: PodPaths) -> None:
    llm.script(error(401, "invalid key"))
    out, result = await _run(pod, llm)
    assert result.status == "error"
    assert out == ipc.result_line(result) + "\n"


async def test_answer_text_reaches_stdout_while_the_turn_is_still_streaming(
    llm: ScriptedLLM, pod: PodPaths
) -> None:
    hold = threading.Event()
    llm.script(text("first then the rest", hold=hold))
    runner = AgentRunner(agent_settings(pod, "openai", llm.base_url("openai")))
    out = Recorder()
    runner.console = Console(out)  # type: ignore[arg-type]
    run = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(out.wrote.wait(), 10)
        assert out.value == "first "
        assert not run.done()  # the model is still "typing"
    finally:
        hold.set()
    await run
    assert out.value == "first then the rest"


@pytest.mark.parametrize(
    ("name", "args", "line"),
    [
        ("execute_command", {"command": "ls\n  -la  /tmp"}, "execute_command: ls -la /tmp"),
        ("read_file", {"path": "/workspace/a.txt"}, "read_file: /workspace/a.txt"),
        ("write_file", {"path": "b.txt", "content": "secret body"}, "write_file: b.txt (11 chars)"),
        ("list_directory", {}, "list_directory"),
        (
            "send_channel_message",
            {"channel": "slack", "text": "hi"},
            "send_channel_message: slack: hi",
        ),
        ("spawn_subagent", {"task": "sum up"}, "spawn_subagent: sum up"),
        ("made_up", {"x": "y"}, "made_up"),
    ],
    ids=["command", "read", "write-hides-content", "no-arg", "channel", "subagent", "unknown"],
)
def test_tool_lines_are_one_short_human_line(name: str, args: dict[str, Any], line: str) -> None:
    assert describe_tool_call(name, args) == line


@pytest.mark.parametrize(
    ("name", "args", "secret"),
    [
        ("execute_command", {"command": "echo $KEY sk-live-0123456789abcdef"}, "0123456789abcdef"),
        (
            "execute_command",
            {"command": "curl -H 'Authorization: Bearer abc.def.ghi' x"},
            "abc.def",
        ),
        ("execute_command", {"command": "mysql --password hunter22 db"}, "hunter22"),
        ("execute_command", {"command": "export API_KEY=zzz999"}, "zzz999"),
        ("execute_command", {"command": "echo my-own-api-key-value"}, "my-own-api-key-value"),
        ("fetch_url", {"url": "https://u:pw123456@h.example/p?token=t0k3n&q=1"}, "pw123456"),
        ("fetch_url", {"url": "https://h.example/p?token=t0k3n&q=1"}, "t0k3n"),
    ],
    ids=["sk-key", "bearer", "password-flag", "env-assign", "run-api-key", "userinfo", "query"],
)
def test_tool_lines_never_print_a_secret(name: str, args: dict[str, Any], secret: str) -> None:
    line = describe_tool_call(name, args, secrets=("my-own-api-key-value",))
    assert secret not in line and "********" in line, line


def test_long_tool_lines_are_truncated_with_an_ellipsis() -> None:
    line = describe_tool_call("execute_command", {"command": "x" * 500})
    assert len(line) == 120 and line.endswith("…")


def _pod_log(stdout: str) -> str:
    """What pods/log returns: stdout with stderr log lines interleaved at line starts."""
    lines = stdout.splitlines(keepends=True)
    stamp = '2025-01-02 03:04:05,678 agent INFO httpx: HTTP Request: POST http://x "200 OK"\n'
    return stamp + "".join(line + (stamp if i % 3 == 0 else "") for i, line in enumerate(lines))


def _tail(log: str, lines: int) -> str:
    return "".join(log.splitlines(keepends=True)[-lines:])


async def test_the_controller_reads_the_result_from_a_log_with_streamed_text(
    llm: ScriptedLLM, pod: PodPaths
) -> None:
    body = "\n".join(f"line {i} of a long answer" for i in range(400))  # > the log tail
    llm.script(calls(tool("read_file", path="x"), say="Looking."), text(body))
    out, result = await _run(pod, llm)
    log = _tail(_pod_log(out), int(_completion.LOG_TAIL_LINES))
    outcome = _outcome.from_log(log, 0)
    assert outcome.succeeded and outcome.result == body
    assert ipc.parse_result_line(log) == result


def _read(log: str, size: int) -> list[LogPiece]:
    reader = AgentLogReader()
    pieces = [p for i in range(0, len(log), size) for p in reader.feed(log[i : i + size])]
    return [*pieces, *reader.close()]


@pytest.mark.parametrize("size", [1, 3, 7, 64, 100_000])
async def test_the_log_reader_splits_a_real_log_in_any_chunking(
    size: int, llm: ScriptedLLM, pod: PodPaths
) -> None:
    llm.script(
        calls(tool("read_file", path="notes.txt"), say="Let me look.\n"),
        text("2024 was a year. __K8SCLAW_RESULT__ is not a marker\n→ not a tool"),
    )
    out, result = await _run(pod, llm)
    pieces = _read(_pod_log(out), size)
    assert "".join(p.text for p in pieces if p.kind == "text") == (
        "Let me look.\n2024 was a year.  is not a marker\n"
    )
    assert [p.text for p in pieces if p.kind == "tool"] == [
        "→ read_file: notes.txt",
        "→ not a tool",  # an answer line shaped like a tool line stays a tool line: dimmed
    ]
    assert len([p for p in pieces if p.kind == "log"]) >= 2
    assert [p.result for p in pieces if p.kind == "result"] == [result]
    assert not any(MARKER in p.text for p in pieces)


def test_the_log_reader_releases_a_partial_line_once_it_cannot_be_special() -> None:
    reader = AgentLogReader()
    assert reader.feed("__K8S") == []  # may still become the marker line
    assert reader.feed("x") == [LogPiece("text", "__K8Sx")]
    assert reader.feed(" more") == [LogPiece("text", " more")]
    assert reader.feed("\n2025-01") == [LogPiece("text", "\n")]
    assert reader.feed("x") == [LogPiece("text", "2025-01x")]
    assert reader.feed("\n" + MARKER + '{"status": "oops"}__K8SCLAW_END__\n') == [
        LogPiece("text", "\n")
    ]  # an invalid marker line is dropped, never shown raw
    assert reader.feed("→ tail without newline") == []
    assert reader.close() == [LogPiece("tool", "→ tail without newline")]
