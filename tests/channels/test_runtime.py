"""`k8sclaw-channel` start-up: every missing setting is named with its fix (exit 2), the
environment becomes `ChannelConfig`, adapters are found by type only when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from k8sclaw_controllers import channels
from k8sclaw_controllers.channels import _settings
from k8sclaw_controllers.channels._clean import clean_id, clean_text
from k8sclaw_protocol import busauth

BASE = {"INSTANCE_NAME": "alice", "POD_NAMESPACE": "team", "EVENT_BUS_URL": "nats://bus:4222"}


@pytest.fixture
def creds_dir(tmp_path: Path) -> Path:
    (tmp_path / busauth.BUS_CREDS_KEY).write_text("creds")
    return tmp_path


def _run(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], argv: list[str]) -> int:
    for name in ("INSTANCE_NAME", "POD_NAMESPACE", "EVENT_BUS_URL", "CHANNEL_TYPE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return channels.main(argv)


@pytest.mark.parametrize(
    ("env", "argv", "named"),
    [
        ({}, [], "CHANNEL_TYPE is not set"),
        ({}, ["irc"], "unknown channel type 'irc'"),
        ({}, ["telegram"], "INSTANCE_NAME is not set"),
        ({"INSTANCE_NAME": "alice"}, ["telegram"], "POD_NAMESPACE is not set"),
        ({**BASE, "INSTANCE_NAME": "a.b"}, ["telegram"], "not a DNS-1123 label"),
        ({k: v for k, v in BASE.items() if k != "EVENT_BUS_URL"}, ["telegram"], "EVENT_BUS_URL"),
        (BASE, ["telegram"], "K8SCLAW_BUS_CREDS_DIR is not set"),
        ({**BASE, "K8SCLAW_CHANNEL_MODE": "carrier-pigeon"}, ["telegram"], "K8SCLAW_CHANNEL_MODE"),
    ],
)
def test_a_missing_setting_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    argv: list[str],
    named: str,
) -> None:
    assert _run(monkeypatch, env, argv) == 2
    err = capsys.readouterr().err
    assert named in err and err.count("\n") == 1


def test_a_missing_token_names_the_secret_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], creds_dir: Path
) -> None:
    env = {**BASE, "K8SCLAW_BUS_CREDS_DIR": str(creds_dir), "CHANNEL_TYPE": "telegram"}
    assert _run(monkeypatch, env, []) == 2
    assert "TELEGRAM_BOT_TOKEN is not set; put the BotFather token" in capsys.readouterr().err


def test_whatsapp_without_its_app_secret_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], creds_dir: Path
) -> None:
    env = {
        **BASE,
        "K8SCLAW_BUS_CREDS_DIR": str(creds_dir),
        "WHATSAPP_ACCESS_TOKEN": "t",
        "WHATSAPP_PHONE_NUMBER_ID": "1",
    }
    assert _run(monkeypatch, env, ["whatsapp"]) == 2
    err = capsys.readouterr().err
    assert "WHATSAPP_APP_SECRET" in err and err.count("\n") == 1


def test_an_adapter_not_built_in_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], creds_dir: Path
) -> None:
    monkeypatch.setitem(channels.ADAPTERS, "slack", "k8sclaw_controllers.channels.nope:Nope")
    env = {**BASE, "K8SCLAW_BUS_CREDS_DIR": str(creds_dir)}
    assert _run(monkeypatch, env, ["slack"]) == 2
    assert "the slack channel is not built into this program" in capsys.readouterr().err


def test_the_environment_becomes_the_adapter_config() -> None:
    env = {
        **BASE,
        "K8SCLAW_ALLOWED_SENDERS": " 1, 2 ,,3",
        "K8SCLAW_ALLOWED_CHATS": "",
        "K8SCLAW_CHANNEL_MODE": "webhook",
        "K8SCLAW_LISTEN_PORT": "3100",
        "TELEGRAM_BOT_TOKEN": "t",
    }
    config = _settings.channel_config("telegram", env)
    assert (config.instance, config.namespace, config.mode) == ("alice", "team", "webhook")
    assert config.allowed_senders == frozenset({"1", "2", "3"})
    assert config.allowed_chats == frozenset()  # set but empty: nobody
    assert config.listen_port == 3100 and config.env["TELEGRAM_BOT_TOKEN"] == "t"
    assert _settings.channel_config("telegram", BASE).allowed_senders is None
    with pytest.raises(_settings.SettingError, match="TELEGRAM_WEBHOOK_URL is not set"):
        channels.load_adapter("telegram", config)


def test_chat_text_is_cleaned_and_capped_in_bytes() -> None:
    assert clean_text("ok\x1b[2J\x00\u202eevil\n\tline") == "ok[2Jevil\n\tline"
    assert clean_text("é" * 10, 5) == "éé"
    assert clean_id("a\nb" * 200) == ("a b" * 200)[:256]
