"""What the agent writes to stderr about failures is redacted, one line and capped
(issue #13 item 16c: stderr reaches `status.error`)."""

from __future__ import annotations

import logging

import pytest

from k8sclaw_sidecar._settings import PodPaths
from k8sclaw_sidecar.agent import AgentRunner
from k8sclaw_sidecar.agent._console import env_secrets, for_log
from tests.harness.llm import ScriptedLLM, calls, text, tool
from tests.sidecar.conftest import agent_settings

API_KEY = "sk-live-0123456789abcdef"


async def test_tool_failures_are_logged_without_secrets_or_controls(
    llm: ScriptedLLM, pod: PodPaths, caplog: pytest.LogCaptureFixture
) -> None:
    hostile = f"ftp://x/?k={API_KEY}\x1b]52;c;AAAA\x07\r\nFAKE LOG LINE" + "z" * 2000
    llm.script(calls(tool("fetch_url", url=hostile)), text("done"))
    runner = AgentRunner(agent_settings(pod, "openai", llm.base_url("openai"), api_key=API_KEY))
    with caplog.at_level(logging.WARNING, logger="k8sclaw.agent"):
        result = await runner.run()
    assert result.status == "success"
    [line] = [r.getMessage() for r in caplog.records if "refused or failed" in r.getMessage()]
    assert "fetch_url" in line
    assert API_KEY not in line and "0123456789abcdef" not in line
    assert not any(c in line for c in "\x1b\x07\r\n")
    assert len(line) < 400


def test_env_secrets_picks_credential_looking_variables() -> None:
    env = {"OPENAI_API_KEY": API_KEY, "SLACK_TOKEN": "xoxb-123456", "HOME": "/home/agent"}
    assert set(env_secrets(env)) == {API_KEY, "xoxb-123456"}
    assert for_log("token xoxb-123456 and /home/agent", env_secrets(env)) == (
        "token ******** and /home/agent"
    )
