"""Scripted LLM server for tests: the real SDKs point at it by base URL."""

from tests.harness.llm._script import ToolUse, Turn, calls, error, text, tool
from tests.harness.llm._server import Request, ScriptedLLM

__all__ = ["Request", "ScriptedLLM", "ToolUse", "Turn", "calls", "error", "text", "tool"]
