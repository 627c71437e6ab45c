"""Which model `run --local` uses: flags, then environment, then the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from k8sclaw.local import NoModelError, config_path, resolve_model


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path


def test_a_key_in_the_environment_implies_its_provider() -> None:
    model = resolve_model(None, None, None, {"ANTHROPIC_API_KEY": "k"})
    assert (model.provider, model.model, model.api_key_var) == (
        "anthropic",
        "claude-3-5-haiku-latest",
        "ANTHROPIC_API_KEY",
    )
    assert model.agent_env({"ANTHROPIC_API_KEY": "k"})["ANTHROPIC_API_KEY"] == "k"


def test_flags_win_over_environment_and_the_config_file() -> None:
    config_path().parent.mkdir(parents=True)
    config_path().write_text("local: {provider: ollama, model: llama3.2}\n")
    saved = resolve_model(None, None, None, {})
    assert (saved.provider, saved.model, saved.base_url) == (
        "ollama",
        "llama3.2",
        "http://localhost:11434/v1",
    )
    env = {"K8SCLAW_MODEL": "qwen", "OPENAI_API_KEY": "k"}
    assert resolve_model(None, None, None, env).model == "qwen"
    flagged = resolve_model("openai", "m", "http://127.0.0.1:9/v1", env)
    assert (flagged.provider, flagged.model, flagged.base_url) == (
        "openai",
        "m",
        "http://127.0.0.1:9/v1",
    )
    assert "OPENAI_API_KEY" in flagged.agent_env(env)


def test_no_model_and_a_keyless_remote_provider_are_refused() -> None:
    with pytest.raises(NoModelError, match="no model is configured"):
        resolve_model(None, None, None, {})
    with pytest.raises(NoModelError, match="has no ANTHROPIC_API_KEY"):
        resolve_model("anthropic", None, None, {})
    with pytest.raises(NoModelError, match="needs a model name"):
        resolve_model("ollama", None, None, {})
