"""`k8sclaw onboard --non-interactive` against the harness API: exactly the expected objects."""

from __future__ import annotations

import base64

import kubernetes
import pytest
from click.testing import CliRunner, Result

from k8sclaw.cli import cli
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv


def onboard(kube: KubeEnv, *args: str) -> Result:
    base = ["onboard", "--non-interactive", "--kubeconfig", str(kube.kubeconfig)]
    return CliRunner().invoke(cli, [*base, *args])


def _secrets(kube: KubeEnv) -> dict[str, dict[str, str]]:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    items = core.list_namespaced_secret(kube.namespace).items
    return {
        s.metadata.name: {k: base64.b64decode(v).decode() for k, v in (s.data or {}).items()}
        for s in items
        if s.type == "Opaque"
    }


def _custom(kube: KubeEnv, plural: str) -> dict[str, dict]:
    api = kubernetes.client.CustomObjectsApi(kube.api_client)
    items = api.list_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, plural
    )
    return {i["metadata"]["name"]: i for i in items["items"]}


def test_creates_exactly_the_secrets_policy_and_instance(
    kube: KubeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_OPENAI", "sk-test-123")
    monkeypatch.setenv("MY_TG", "123:telegram-token")
    result = onboard(
        kube,
        "--instance",
        "alice",
        "--provider",
        "openai",
        "--api-key-env",
        "MY_OPENAI",
        "--channel",
        "telegram",
        "--channel-token-env",
        "MY_TG",
    )
    assert result.exit_code == 0, result.stderr
    assert "sk-test-123" not in result.stderr + result.stdout
    assert "telegram-token" not in result.stderr + result.stdout

    assert _secrets(kube) == {
        "alice-openai-key": {"OPENAI_API_KEY": "sk-test-123"},
        "alice-telegram-secret": {"TELEGRAM_BOT_TOKEN": "123:telegram-token"},
    }
    policies = _custom(kube, "clawpolicies")
    assert list(policies) == ["default-policy"]
    assert policies["default-policy"]["spec"]["featureGates"]["code-execution"] is True
    instances = _custom(kube, "clawinstances")
    assert list(instances) == ["alice"]
    spec = instances["alice"]["spec"]
    assert spec["agents"]["default"]["model"] == "gpt-4o"
    assert spec["agents"]["default"]["provider"] == "openai"
    assert spec["authRefs"] == [{"provider": "openai", "secret": "alice-openai-key"}]
    assert spec["channels"] == [
        {"type": "telegram", "configRef": {"secret": "alice-telegram-secret"}}
    ]
    assert spec["policyRef"] == "default-policy"


def test_rerun_updates_in_place(kube: KubeEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY", "first")
    monkeypatch.setenv("TG", "tok")
    assert (
        onboard(
            kube,
            "--instance",
            "bob",
            "--api-key-env",
            "KEY",
            "--channel",
            "telegram",
            "--channel-token-env",
            "TG",
        ).exit_code
        == 0
    )
    uid = _custom(kube, "clawinstances")["bob"]["metadata"]["uid"]
    monkeypatch.setenv("KEY", "second")
    result = onboard(
        kube, "--instance", "bob", "--provider", "anthropic", "--api-key-env", "KEY", "--no-policy"
    )
    assert result.exit_code == 0, result.stderr
    instance = _custom(kube, "clawinstances")["bob"]
    assert instance["metadata"]["uid"] == uid  # updated, not recreated
    spec = instance["spec"]
    assert spec["agents"]["default"] == {
        "model": "claude-sonnet-4-20250514",
        "provider": "anthropic",
    }
    assert spec["authRefs"] == [{"provider": "anthropic", "secret": "bob-anthropic-key"}]
    assert not spec.get("channels") and "policyRef" not in spec
    assert _secrets(kube)["bob-anthropic-key"] == {"ANTHROPIC_API_KEY": "second"}


def test_ollama_needs_no_key(kube: KubeEnv) -> None:
    result = onboard(kube, "--instance", "local", "--provider", "ollama", "--no-policy")
    assert result.exit_code == 0, result.stderr
    spec = _custom(kube, "clawinstances")["local"]["spec"]
    assert spec["agents"]["default"]["baseURL"] == "http://ollama.default.svc:11434/v1"
    assert spec["agents"]["default"]["model"] == "llama3" and not spec.get("authRefs")
    assert _secrets(kube) == {}


def test_unset_key_variable_is_a_one_line_error(kube: KubeEnv) -> None:
    result = onboard(kube, "--api-key-env", "NOT_SET_ANYWHERE")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-2:] == [
        "error: environment variable NOT_SET_ANYWHERE (the API key) is empty or unset",
        "hint: export NOT_SET_ANYWHERE=... and re-run",
    ]
    assert _custom(kube, "clawinstances") == {}
