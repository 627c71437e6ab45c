"""docs/channels/slack.md stays true: its app manifest grants what the adapter calls, its
Secret table names the variables the adapter reads, and its ClawInstance is valid."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from k8sclaw_controllers.channels import slack as slack_module
from k8sclaw_controllers.channels._adapter import ChannelConfig
from k8sclaw_controllers.channels.slack import SlackAdapter
from k8sclaw_protocol import ClawInstance
from k8sclaw_protocol._chat import Delivery
from tests.harness.platforms.slack import ScriptedSlack

DOC = (Path(__file__).resolve().parents[2] / "docs" / "channels" / "slack.md").read_text()


def yaml_blocks() -> list[Any]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", DOC, re.S)]


def manifest() -> dict[str, Any]:
    return next(b for b in yaml_blocks() if "oauth_config" in b)


def test_manifest_subscribes_to_what_the_adapter_hears() -> None:
    settings = manifest()["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    events = set(settings["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.channels", "message.groups", "message.im"} <= events


async def test_manifest_scopes_cover_every_call_the_adapter_makes(slack: ScriptedSlack) -> None:
    slack.scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    config = ChannelConfig(channel="slack", instance="a", namespace="n", env=slack.env())
    adapter = SlackAdapter(config)
    asked = Delivery.model_validate(
        {"id": "d", "channel": "slack", "chatId": "C1", "threadId": "1.2", "replyTo": "1.2"}
    )
    await adapter.send_typing(asked)
    await adapter.send_text(asked, adapter.render("**done**"))
    await adapter.close()
    assert [method for method, _ in slack.calls] == [
        "reactions.add",
        "chat.postMessage",
        "reactions.remove",
    ]
    assert len(slack.posts) == 1 and len(slack.reactions) == 2


def test_secret_table_names_the_variables_the_adapter_reads() -> None:
    source = Path(slack_module.__file__).read_text()
    read = set(re.findall(r'env\.get\("(SLACK_[A-Z_]+)"', source))
    documented = set(re.findall(r"^\| `(SLACK_[A-Z_]+)` \|", DOC, re.M))
    assert (
        read
        == documented
        == {
            "SLACK_BOT_TOKEN",
            "SLACK_APP_TOKEN",
            "SLACK_SIGNING_SECRET",
            "SLACK_API_URL",
        }
    )


def test_example_instance_is_valid() -> None:
    body = next(b for b in yaml_blocks() if b.get("kind") == "ClawInstance")
    (channel,) = ClawInstance.from_wire(body).spec.channels
    assert (channel.type, channel.mode, channel.config_ref.secret) == (
        "slack",
        "socket",
        "slack-bot",
    )
