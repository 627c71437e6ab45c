"""Which model a local run uses: flags, then environment, then the config file.

The config file is `config.yaml` in the platform config dir (`platformdirs`, e.g.
`~/.config/k8sclaw/config.yaml`) under a `local:` key (`provider`, `model`, `baseUrl`).
API keys come from the environment only (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`), never
from a file we write or a log line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY_VARS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}
OLLAMA_URL = "http://localhost:11434/v1"
KEYLESS = frozenset({"ollama"})
"""Providers that need no API key (a local server)."""


class NoModelError(Exception):
    """No model is configured; the message says how to configure one."""

    exit_code = 2


@dataclass(frozen=True)
class ModelConfig:
    """What the agent process is given (`MODEL_PROVIDER`, `MODEL_NAME`, ...)."""

    provider: str
    model: str
    base_url: str
    api_key_var: str
    """The environment variable holding the key handed to the agent ("" for none)."""

    def agent_env(self, environ: dict[str, str]) -> dict[str, str]:
        """The agent's model variables; the key is copied only into the agent's env."""
        env = {"MODEL_PROVIDER": self.provider, "MODEL_NAME": self.model}
        if self.base_url:
            env["MODEL_BASE_URL"] = self.base_url
        if self.api_key_var:
            env[self.api_key_var] = environ[self.api_key_var]
        return env


def config_path() -> Path:
    """`config.yaml` in the platform config dir."""
    import platformdirs

    return Path(platformdirs.user_config_dir("k8sclaw")) / "config.yaml"


def _file_settings(path: Path) -> dict[str, Any]:
    """The `local:` section of the config file ({} when there is none)."""
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as exc:
        raise NoModelError(f"cannot read {path}: {exc}") from exc
    section = loaded.get("local") if isinstance(loaded, dict) else None
    return section if isinstance(section, dict) else {}


def resolve(
    provider: str | None,
    model: str | None,
    base_url: str | None,
    environ: dict[str, str] | None = None,
) -> ModelConfig:
    """The model from flags → `K8SCLAW_PROVIDER`/`K8SCLAW_MODEL`/`K8SCLAW_BASE_URL` → the
    config file → a provider implied by an API key in the environment."""
    env = dict(os.environ if environ is None else environ)
    path = config_path()
    saved = _file_settings(path)
    chosen = (
        provider or env.get("K8SCLAW_PROVIDER") or str(saved.get("provider") or "")
    ).strip().lower() or _implied_provider(env)
    url = base_url or env.get("K8SCLAW_BASE_URL") or str(saved.get("baseUrl") or "")
    name = model or env.get("K8SCLAW_MODEL") or str(saved.get("model") or "")
    if not chosen:
        raise NoModelError(how_to_configure(path))
    if chosen == "ollama":
        url = url or OLLAMA_URL
    key_var = KEY_VARS.get(chosen, KEY_VARS["openai"])
    has_key = bool(env.get(key_var))
    if not has_key and chosen not in KEYLESS and not url:
        raise NoModelError(f"provider {chosen!r} has no {key_var}.\n" + how_to_configure(path))
    if not name:
        name = DEFAULT_MODELS.get(chosen, "")
    if not name:
        raise NoModelError(f"provider {chosen!r} needs a model name.\n" + how_to_configure(path))
    return ModelConfig(chosen, name, url, key_var if has_key else "")


def _implied_provider(env: dict[str, str]) -> str:
    for provider, var in KEY_VARS.items():
        if env.get(var):
            return provider
    return ""


def how_to_configure(path: Path) -> str:
    """The multi-line message shown when no model is configured."""
    return f"""no model is configured for the local run. Configure one of:
  OpenAI:     export OPENAI_API_KEY=sk-...   (model: --model or K8SCLAW_MODEL; default \
{DEFAULT_MODELS["openai"]})
  Anthropic:  export ANTHROPIC_API_KEY=sk-ant-...   (default model {DEFAULT_MODELS["anthropic"]})
  Ollama:     k8sclaw run --local --provider ollama --base-url {OLLAMA_URL} \
--model llama3.2 "<task>"
  Any OpenAI-compatible server:
              k8sclaw run --local --provider openai --base-url https://HOST/v1 --model NAME \
"<task>"
              (its key, if it needs one, in OPENAI_API_KEY)
The settings can also be kept in {path}:
  local:
    provider: ollama
    model: llama3.2
    baseUrl: {OLLAMA_URL}
(environment: K8SCLAW_PROVIDER, K8SCLAW_MODEL, K8SCLAW_BASE_URL)"""
