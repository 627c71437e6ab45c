"""Token streaming: the providers' streaming APIs feed coalesced chunk files as text arrives."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from k8sclaw_protocol import IpcLayout
from k8sclaw_sidecar import _watch
from k8sclaw_sidecar._settings import PodPaths
from k8sclaw_sidecar.agent import AgentRunner
from k8sclaw_sidecar.agent._chunks import TextChunks, clean_text
from tests.harness.llm import ScriptedLLM, calls, error, text, tool
from tests.sidecar.conftest import agent_settings

PROVIDERS = ["openai", "anthropic", "azure-openai", "ollama", "vllm"]
LONG = " ".join(f"word{i}" for i in range(150))  # ~1,000 characters: several chunks


def _chunks(pod: PodPaths) -> list[dict[str, Any]]:
    files = (pod.ipc / "output").glob("stream-*.json")
    found = [json.loads(p.read_text()) for p in files]
    return sorted(found, key=lambda c: c["index"])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_streamed_text_arrives_in_ordered_chunks_that_add_up(
    provider: str, llm: ScriptedLLM, pod: PodPaths
) -> None:
    llm.script(text(LONG, input_tokens=11, output_tokens=222))
    result = await AgentRunner(agent_settings(pod, provider, llm.base_url(provider))).run()
    assert result.status == "success", result.error
    body = llm.requests[0].body
    assert body["stream"] is True
    if provider != "anthropic":
        assert body["stream_options"] == {"include_usage": True}
    chunks = _chunks(pod)
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert len(chunks) >= 2, "1,000 characters should not be one chunk"
    assert all(c["type"] == "text" for c in chunks)
    assert "".join(c["content"] for c in chunks) == result.response == LONG
    assert (result.metrics.input_tokens, result.metrics.output_tokens) == (11, 222)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_chunk_is_written_while_the_turn_is_still_streaming(
    provider: str, llm: ScriptedLLM, pod: PodPaths
) -> None:
    hold = threading.Event()
    llm.script(text("first then the rest", hold=hold))
    run = asyncio.create_task(
        AgentRunner(agent_settings(pod, provider, llm.base_url(provider))).run()
    )
    try:
        layout = IpcLayout(pod.ipc)
        layout.ensure()
        first = layout.stream_chunk(0)
        stop = asyncio.Event()
        async with asyncio.timeout(10):
            async for _ in _watch.watch_files(layout.output, stop, lambda p: p == first):
                if first.exists():
                    stop.set()
        assert json.loads(first.read_text())["content"] == "first "
        assert not run.done()  # the model is still "typing"
    finally:
        hold.set()
    result = await run
    assert "".join(c["content"] for c in _chunks(pod)) == result.response == "first then the rest"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_streamed_tool_call_deltas_are_assembled(
    provider: str, llm: ScriptedLLM, pod: PodPaths
) -> None:
    content = 'line one\n{"nested": [1, 2]} "quoted"'
    llm.script(
        calls(
            tool("write_file", path="deep/a.txt", content=content),
            tool("list_directory", path="/workspace/deep"),
            say="Writing now.",
        ),
        text("done"),
    )
    result = await AgentRunner(agent_settings(pod, provider, llm.base_url(provider))).run()
    assert result.status == "success", result.error
    assert (pod.workspace / "deep" / "a.txt").read_text() == content
    history = llm.requests[1].body["messages"]
    assistant = next(m for m in history if m["role"] == "assistant")
    if provider == "anthropic":
        uses = [b for b in assistant["content"] if b["type"] == "tool_use"]
        assert [u["input"] for u in uses] == [
            {"path": "deep/a.txt", "content": content},
            {"path": "/workspace/deep"},
        ]
    else:
        args = [json.loads(c["function"]["arguments"]) for c in assistant["tool_calls"]]
        assert args == [{"path": "deep/a.txt", "content": content}, {"path": "/workspace/deep"}]
        assert assistant["content"] == "Writing now."
    kinds = [c["type"] for c in _chunks(pod)]
    assert kinds == ["text", "tool_use", "tool_result", "tool_use", "tool_result", "text"]


async def test_a_server_rejecting_stream_options_is_asked_again_without(
    llm: ScriptedLLM, pod: PodPaths
) -> None:
    llm.script(error(400, "Unrecognized request argument supplied: stream_options"), text("ok"))
    settings = agent_settings(pod, "azure-openai", llm.base_url("azure-openai"))
    result = await AgentRunner(settings).run()
    assert result.status == "success", result.error
    assert "stream_options" in llm.requests[0].body
    assert "stream_options" not in llm.requests[1].body
    assert llm.requests[1].body["stream"] is True


async def test_other_400s_fail_with_the_providers_message(llm: ScriptedLLM, pod: PodPaths) -> None:
    llm.script(error(400, "messages: too long"))
    result = await AgentRunner(agent_settings(pod, "openai", llm.base_url("openai"))).run()
    assert result.status == "error"
    assert result.error and "HTTP 400" in result.error and "too long" in result.error
    assert len(llm.requests) == 1


async def test_chunks_coalesce_by_size_and_by_time() -> None:
    out: list[str] = []
    emitted = asyncio.Event()

    def emit(piece: str) -> None:
        out.append(piece)
        emitted.set()

    chunks = TextChunks(emit, seconds=0.01, chars=10)
    chunks.feed("0123456789abc")  # over the size limit: emitted at once
    assert out == ["0123456789abc"]
    emitted.clear()
    chunks.feed("de")
    assert out == ["0123456789abc"]
    await asyncio.wait_for(emitted.wait(), 5)  # the timer emits a pause's text
    assert out == ["0123456789abc", "de"]
    chunks.flush(final=True)
    assert len(out) == 2


@pytest.mark.parametrize("cut", range(1, 19))
async def test_a_marker_split_across_deltas_never_reaches_a_chunk(cut: int) -> None:
    marker = "__K8SCLAW_RESULT__"
    out: list[str] = []
    chunks = TextChunks(out.append, seconds=60, chars=10_000)
    chunks.feed("say " + marker[:cut])
    chunks.flush()  # what the timer would do mid-marker
    chunks.feed(marker[cut:] + " done")
    chunks.flush(final=True)
    assert "".join(out) == "say  done"
    assert not any("__K8S" in piece for piece in out)


def test_clean_text_removes_markers_formed_by_removing_one() -> None:
    assert clean_text("a__K8SCLAW___K8SCLAW_END__RESULT__b") == "ab"
