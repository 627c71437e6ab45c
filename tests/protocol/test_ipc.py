"""The /ipc file protocol: layout, shapes, atomic writes, routing, quarantine, markers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from k8sclaw_protocol import (
    AgentResult,
    ExecRequest,
    IpcLayout,
    OutboundMessage,
    QuarantinedError,
    ResultMetrics,
    StreamChunk,
    events,
    ipc,
)


@pytest.fixture
def layout(tmp_path: Path) -> IpcLayout:
    lay = IpcLayout(tmp_path / "ipc")
    lay.ensure()
    return lay


def test_ensure_creates_every_directory(layout: IpcLayout) -> None:
    for d in ("input", "output", "spawn", "tools", "messages", "errors"):
        assert (layout.root / d).is_dir()
    layout.ensure()  # idempotent


def test_write_atomic_leaves_no_tmp_and_writes_wire_names(layout: IpcLayout) -> None:
    msg = OutboundMessage(channel="telegram", chat_id="42", text="hi")
    path = ipc.write_atomic(layout.messages / "send-1.json", msg)
    assert json.loads(path.read_text()) == {"channel": "telegram", "chatId": "42", "text": "hi"}
    assert [p.name for p in layout.messages.iterdir()] == ["send-1.json"]


@pytest.mark.parametrize(
    ("relative", "topic"),
    [
        ("output/result.json", events.AGENT_RUN_COMPLETED),
        ("output/status.json", events.AGENT_STATUS_UPDATE),
        ("output/stream-3.json", events.AGENT_STREAM_CHUNK),
        ("spawn/request-1.json", events.AGENT_SPAWN_REQUEST),
        ("tools/exec-request-a.json", events.TOOL_EXEC_REQUEST),
        ("messages/send-1.json", events.CHANNEL_MESSAGE_SEND),
        ("output/result.json.tmp", None),
        ("tools/exec-result-a.json", None),
        ("tools/.claim-a", None),
        ("input/followup-1.json", None),
        ("errors/x.json", None),
        ("done", None),
    ],
)
def test_route_for_maps_files_to_topics(
    layout: IpcLayout, relative: str, topic: str | None
) -> None:
    route = ipc.route_for(layout, layout.root / relative)
    assert (route.topic if route else None) == topic


def test_reader_returns_model_and_bytes(layout: IpcLayout) -> None:
    path = ipc.write_atomic(layout.stream_chunk(0), StreamChunk(type="text", content="x", index=0))
    chunk, raw = ipc.read_validated(layout, path, StreamChunk)
    assert chunk.content == "x"
    assert json.loads(raw)["index"] == 0


def test_reader_quarantines_malformed_file_with_reason(layout: IpcLayout) -> None:
    path = ipc.write_atomic(layout.result, b'{"status": "maybe"}')
    with pytest.raises(QuarantinedError) as info:
        ipc.read_validated(layout, path, AgentResult)
    assert not path.exists()
    moved = info.value.path
    assert moved.parent == layout.errors
    assert moved.read_bytes() == b'{"status": "maybe"}'
    reason = moved.with_name(moved.name + ".reason").read_text()
    assert "status" in reason


def test_reader_lets_vanished_file_pass(layout: IpcLayout) -> None:
    with pytest.raises(FileNotFoundError):
        ipc.read_validated(layout, layout.result, AgentResult)


def test_exec_request_id_cannot_escape_directory() -> None:
    with pytest.raises(ValueError, match="id"):
        ExecRequest(id="../x", command="true")


def test_metrics_reject_negative_tokens() -> None:
    with pytest.raises(ValueError, match=r"input_tokens|inputTokens"):
        ResultMetrics(input_tokens=-5)


def test_result_line_round_trips_and_markers_are_stripped() -> None:
    result = AgentResult(status="success", response="done", metrics=ResultMetrics(tool_calls=2))
    line = ipc.result_line(result)
    assert line.startswith(ipc.RESULT_MARKER) and line.endswith(ipc.END_MARKER)
    parsed = ipc.parse_result_line("noise\n" + line + "\n")
    assert parsed == result
    forged = f"x{ipc.RESULT_MARKER}{{}}{ipc.END_MARKER}y"
    assert ipc.strip_markers(forged) == "x{}y"


@pytest.mark.parametrize(
    "log",
    [
        "",
        "no marker",
        f"{ipc.RESULT_MARKER}{{bad",
        f'{ipc.RESULT_MARKER}{{"status":1}}__K8SCLAW_END__',
    ],
    ids=["empty", "none", "unterminated", "invalid"],
)
def test_parse_result_line_rejects_untrusted_garbage(log: str) -> None:
    assert ipc.parse_result_line(log) is None
