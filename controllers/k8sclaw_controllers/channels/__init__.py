"""`k8sclaw-channel <type>`: one program that connects one ClawInstance to one chat
platform (Telegram, Slack, Discord, WhatsApp) through the event bus (SPEC §9).

The runtime (`_runtime.py`) is shared; each platform is an adapter module loaded by type
only when asked for, so an image without one platform's module says so plainly.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
from typing import Final

from k8sclaw_controllers.channels._adapter import Adapter, ChannelConfig
from k8sclaw_controllers.channels._settings import (
    RuntimeSettings,
    SettingError,
    channel_config,
    channel_type,
    runtime_settings,
)

ADAPTERS: Final[dict[str, str]] = {
    "telegram": "k8sclaw_controllers.channels.telegram:TelegramAdapter",
    "slack": "k8sclaw_controllers.channels.slack:SlackAdapter",
    "discord": "k8sclaw_controllers.channels.discord:DiscordAdapter",
    "whatsapp": "k8sclaw_controllers.channels.whatsapp:WhatsAppAdapter",
}
"""Channel type → "module:Class"; each class is constructed as `Cls(config)`."""


def load_adapter(kind: str, config: ChannelConfig) -> Adapter:
    """The adapter for `kind`, constructed; SettingError when it is unknown, not built
    in, or its Secret lacks a key (adapters raise SettingError, KeyError or ValueError)."""
    target = ADAPTERS.get(kind)
    if target is None:
        raise SettingError(f"unknown channel type {kind!r}; one of {', '.join(ADAPTERS)}")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise SettingError(f"the {kind} channel is not built into this program") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise SettingError(f"the {kind} channel module has no {class_name}")
    try:
        adapter: Adapter = cls(config)
    except KeyError as exc:
        raise SettingError(
            f"{exc.args[0]} is not set; add it to the channel's Secret "
            f"(spec.channels[].configRef.secret)"
        ) from None
    except ValueError as exc:  # a setting the adapter cannot work with (e.g. WhatsApp's mode)
        raise SettingError(str(exc)) from None
    return adapter


def main(argv: list[str] | None = None) -> int:
    """Entry point of `k8sclaw-channel`; exit 2 names what is missing and how to fix it."""
    args = sys.argv[1:] if argv is None else argv
    try:
        kind = channel_type(args, os.environ)
        config = channel_config(kind, os.environ)
        settings = runtime_settings(os.environ)
        adapter = load_adapter(kind, config)
    except SettingError as exc:
        print(f"k8sclaw-channel: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=os.environ.get("K8SCLAW_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request lines carry the bot token
    asyncio.run(serve(config, adapter, settings))
    return 0


async def serve(config: ChannelConfig, adapter: Adapter, settings: RuntimeSettings) -> None:
    """Run the channel until SIGTERM/SIGINT, then close cleanly."""
    from k8sclaw_controllers.channels._runtime import ChannelRuntime

    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        if task is not None:
            loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await ChannelRuntime(config, adapter, settings).run()
