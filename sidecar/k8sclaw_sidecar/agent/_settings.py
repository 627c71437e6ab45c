"""Settings of `k8sclaw-agent`, resolved from the seed's environment variables in one place.

The controller sets these on the `agent` container (reference §3.1); `TOOLS_ALLOW` /
`TOOLS_DENY` carry the run's effective tool policy as comma lists (an unset TOOLS_ALLOW
grants every tool, an empty one none).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pydantic import TypeAdapter, ValidationError

from k8sclaw_protocol import HistoryTurn, cap_history, names
from k8sclaw_sidecar import _settings

_TURNS = TypeAdapter(list[HistoryTurn])

API_KEY_VARS = ("API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY")
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_OLLAMA_URL = "http://ollama.default.svc:11434/v1"
DEFAULT_AZURE_API_VERSION = "2024-10-21"
"""The GA version that streams usage (`stream_options`); older ones are asked without it."""


def _csv(value: str) -> frozenset[str]:
    return frozenset(x.strip() for x in value.split(",") if x.strip())


def _allow_list() -> frozenset[str] | None:
    """TOOLS_ALLOW: unset grants every tool; set (even to "") grants exactly its list."""
    raw = os.environ.get("TOOLS_ALLOW")
    return None if raw is None else _csv(raw)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _history() -> tuple[HistoryTurn, ...]:
    """HISTORY: the prior turns of the chat (the run's spec.history as JSON), capped."""
    raw = os.environ.get(names.ENV_HISTORY, "")
    if not raw.strip():
        return ()
    try:
        turns = _TURNS.validate_json(raw)
    except ValidationError as exc:
        raise ValueError(
            f"{names.ENV_HISTORY} must be a JSON list of {{role, text}} turns: {exc}"
        ) from exc
    return tuple(cap_history(turns))


def _decimal(name: str) -> Decimal | None:
    raw = os.environ.get(name, "")
    try:
        value = Decimal(raw) if raw else None
    except InvalidOperation as exc:
        raise ValueError(f"{name} must be a decimal number such as 0.50, got {raw!r}") from exc
    if value is not None and (not value.is_finite() or value < 0):
        raise ValueError(f"{name} must be a non-negative decimal number, got {raw!r}")
    return value


@dataclass(frozen=True)
class RunBudget:
    """The per-run spend cap the controller set (BUDGET_* variables); unset: no cap."""

    tokens: int | None = None
    """BUDGET_TOKENS: most prompt plus completion tokens of the whole run."""
    cost: Decimal | None = None
    """BUDGET_COST: most USD, reckoned with the two prices below."""
    price_input: Decimal = Decimal(0)
    """BUDGET_PRICE_INPUT: USD per million prompt tokens."""
    price_output: Decimal = Decimal(0)
    """BUDGET_PRICE_OUTPUT: USD per million completion tokens."""

    @classmethod
    def from_env(cls) -> RunBudget:
        """The cap from the environment."""
        tokens = _int("BUDGET_TOKENS", 0)
        return cls(
            tokens=tokens if tokens > 0 else None,
            cost=_decimal("BUDGET_COST"),
            price_input=_decimal("BUDGET_PRICE_INPUT") or Decimal(0),
            price_output=_decimal("BUDGET_PRICE_OUTPUT") or Decimal(0),
        )

    def reached(self, input_tokens: int, output_tokens: int) -> str | None:
        """Which cap this usage has reached (a one-line description), or None."""
        used = input_tokens + output_tokens
        if self.tokens is not None and used >= self.tokens:
            return f"budgets.run.tokens of {self.tokens} tokens reached ({used} used)"
        if self.cost is not None:
            spent = (input_tokens * self.price_input + output_tokens * self.price_output) / (
                1_000_000
            )
            if spent >= self.cost:
                return f"budgets.run.cost of {self.cost} USD reached ({spent:.6f} USD used)"
        return None


@dataclass(frozen=True)
class AgentSettings:
    """Everything one agent run needs to know."""

    paths: _settings.PodPaths
    run_id: str
    agent_id: str
    session_key: str
    instance: str
    task: str
    system_prompt: str
    provider: str
    model: str
    base_url: str
    thinking: str
    api_key: str
    azure_api_version: str
    tools_allow: frozenset[str] | None
    """Tools the run may use: None (TOOLS_ALLOW not set) means every built-in tool; an
    empty set (TOOLS_ALLOW set but empty) means none."""
    tools_deny: frozenset[str]
    """Tools never offered or executed (wins over allow)."""
    history: tuple[HistoryTurn, ...] = ()
    """Prior turns of the conversation, put before the task in the model's messages."""
    tools_ask: frozenset[str] = frozenset()
    """Offered tools whose every call waits for a person's approval (TOOLS_ASK)."""
    approval_timeout: int = 600
    """Seconds a call to an `ask` tool waits before it counts as refused."""
    max_iterations: int = 25
    deadline_seconds: float = 600.0
    max_retries: int = 5
    exec_timeout: int = 30
    subagent_timeout: float = 600.0
    """Seconds `spawn_subagent` waits for its child's answer."""
    budget: RunBudget = RunBudget()
    """The per-run spend cap: the loop stops once usage reaches it."""
    fetch_allow_networks: tuple[str, ...] = ()
    """Networks fetch_url may reach although not public. Code-only (tests reach a server
    on 127.0.0.1 with it): no environment variable sets it, so a deployment cannot."""

    @classmethod
    def from_env(cls, argv: Sequence[str] | None = None) -> AgentSettings:
        parser = argparse.ArgumentParser(
            prog="k8sclaw-agent",
            description="Run one agent task: call the model in a tool loop, write "
            "/ipc/output/result.json and print the result marker. Configured by the "
            "environment (TASK, MODEL_PROVIDER, MODEL_NAME, MODEL_BASE_URL, ...).",
        )
        parser.add_argument("--task")
        args = parser.parse_args(argv)
        env = os.environ.get
        return cls(
            paths=_settings.PodPaths.from_env(),
            run_id=env("AGENT_RUN_ID", ""),
            agent_id=env("AGENT_ID", ""),
            session_key=env("SESSION_KEY", ""),
            instance=env("INSTANCE_NAME", ""),
            task=_settings.resolve(args.task, "TASK"),
            system_prompt=env("SYSTEM_PROMPT", ""),
            provider=(env("MODEL_PROVIDER") or "openai").strip().lower(),
            model=env("MODEL_NAME") or DEFAULT_MODEL,
            base_url=(env("MODEL_BASE_URL") or "").rstrip("/"),
            thinking=env("THINKING_MODE", ""),
            api_key=next((env(v, "") for v in API_KEY_VARS if env(v)), ""),
            azure_api_version=env("AZURE_OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION,
            tools_allow=_allow_list(),
            tools_deny=_csv(env("TOOLS_DENY", "")),
            history=_history(),
            tools_ask=_csv(env("TOOLS_ASK", "")),
            approval_timeout=_int("K8SCLAW_APPROVAL_TIMEOUT_SECONDS", 600),
            max_iterations=_int("K8SCLAW_MAX_ITERATIONS", 25),
            deadline_seconds=float(_int("K8SCLAW_RUN_DEADLINE_SECONDS", 600)),
            max_retries=_int("K8SCLAW_MODEL_MAX_RETRIES", 5),
            exec_timeout=_int("K8SCLAW_EXEC_TIMEOUT_SECONDS", 30),
            subagent_timeout=float(_int("K8SCLAW_SUBAGENT_TIMEOUT_SECONDS", 600)),
            budget=RunBudget.from_env(),
        )
