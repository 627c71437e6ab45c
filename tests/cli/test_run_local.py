"""`k8sclaw run --local` end to end: real agent, bridge and sandbox processes, an embedded
nats-server with the shipped auth, the scripted model; transcripts in the local store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from k8sclaw.cli import cli
from k8sclaw.local import Transcripts
from tests.harness.llm import ScriptedLLM, calls, error, text, tool

POLICY = """\
apiVersion: k8sclaw.io/v1alpha1
kind: ClawPolicy
metadata: {name: local, namespace: default}
spec:
  featureGates: {network-access: false}
"""
SKILLS = """\
apiVersion: k8sclaw.io/v1alpha1
kind: SkillPack
metadata: {name: notes, namespace: default}
spec:
  skills:
    - name: house-style
      description: how answers look
      content: Always answer in one sentence.
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Config and data dirs of their own, and no model key from the developer's shell."""
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield env


def model_flags(llm: ScriptedLLM) -> list[str]:
    return ["--provider", "openai", "--base-url", llm.base_url("openai"), "--model", "scripted"]


@pytest.mark.slow
def test_local_run_executes_tools_in_the_sandbox_and_keeps_the_transcript(
    llm: ScriptedLLM, home: dict[str, str], tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    policy, skills = tmp_path / "policy.yaml", tmp_path / "skills.yaml"
    policy.write_text(POLICY)
    skills.write_text(SKILLS)
    llm.script(
        calls(tool("execute_command", command="echo sandboxed | tee proof.txt")),
        text("The proof is written."),
    )
    runner = CliRunner()
    args = ["run", "--local", "write the proof", "--workspace", str(workspace)]
    args += ["--policy", str(policy), "--skill", str(skills), *model_flags(llm)]
    result = runner.invoke(cli, args, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert "The proof is written." in result.stdout
    assert "→ execute_command: echo sandboxed | tee proof.txt" in result.stdout
    # The command ran in the sandbox process, in the run's workspace.
    assert (workspace / "proof.txt").read_text() == "sandboxed\n"
    assert "sandboxed" in json.dumps(llm.requests[1].body["messages"][-1])  # the tool result
    # The policy narrowed the tools (network-access off) and the local run has no channel
    # or sub-agent backends; the skill reached the system prompt.
    offered = llm.requests[0].tool_names
    assert "execute_command" in offered and "fetch_url" not in offered
    assert "spawn_subagent" not in offered and "send_channel_message" not in offered
    assert "Always answer in one sentence." in json.dumps(llm.requests[0].body)

    logs = runner.invoke(cli, ["runs", "logs", "--local"], catch_exceptions=False)
    assert logs.exit_code == 0, logs.output
    assert "The proof is written." in logs.stdout
    assert "→ execute_command: echo sandboxed | tee proof.txt" in logs.stdout
    listed = runner.invoke(cli, ["runs", "list", "--local"], catch_exceptions=False)
    assert listed.exit_code == 0
    assert "Succeeded" in listed.stdout and "write the proof" in listed.stdout


@pytest.mark.slow
def test_a_failed_run_exits_1_and_is_kept_as_failed(llm: ScriptedLLM, home: dict[str, str]) -> None:
    llm.script(error(401, "invalid api key"))
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "--local", "doomed", *model_flags(llm)])

    assert result.exit_code == 1, result.output
    assert "failed" in result.stderr and "invalid api key" in result.stderr
    listed = runner.invoke(cli, ["runs", "list", "--local"], catch_exceptions=False)
    assert "Failed" in listed.stdout and "doomed" in listed.stdout
    logs = runner.invoke(cli, ["runs", "logs", "--local"], catch_exceptions=False)
    assert "invalid api key" in logs.stderr


def test_no_model_says_how_to_configure_one_and_exits_2(home: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["run", "--local", "hello"], catch_exceptions=False)

    assert result.exit_code == 2
    message = result.stderr
    assert "no model is configured" in message
    assert "OPENAI_API_KEY" in message and "ANTHROPIC_API_KEY" in message
    assert "--provider ollama --base-url http://localhost:11434/v1" in message
    assert "OpenAI-compatible" in message
    assert "config.yaml" in message
    assert not (Path(home["XDG_DATA_HOME"]) / "k8sclaw").exists()  # nothing was started


def _children(pid: int) -> list[int]:
    """Pids whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _read_until(proc: subprocess.Popen[bytes], needle: bytes, timeout: float) -> bytes:
    """stdout of `proc` until `needle` shows (a reader thread: never blocks the test)."""
    seen = bytearray()
    found = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(1024):
            seen.extend(chunk)
            if needle in seen:
                found.set()
        found.set()

    threading.Thread(target=read, daemon=True).start()
    found.wait(timeout)
    return bytes(seen)


@pytest.mark.slow
def test_ctrl_c_stops_every_process(llm: ScriptedLLM, home: dict[str, str]) -> None:
    hold = threading.Event()
    llm.script(text("Thinking it over, slowly.", hold=hold))
    argv = [sys.executable, "-m", "k8sclaw", "run", "--local", "think", *model_flags(llm)]
    env = {**os.environ, **home}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        shown = _read_until(proc, b"Thinking", timeout=30)
        assert b"Thinking" in shown, proc.stderr.read1(4096) if proc.stderr else b""
        children = _children(proc.pid)
        assert len(children) == 4  # nats-server, sandbox, bridge, agent
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in children if _alive(pid)] == []
        store = Transcripts(Path(home["XDG_DATA_HOME"]) / "k8sclaw" / "local-runs.sqlite")
        assert [run.status for run in store.runs()] == ["Interrupted"]
    finally:
        hold.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
