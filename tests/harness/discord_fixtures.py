"""Fixture `discord_server`: a scripted Discord gateway + REST server on 127.0.0.1 per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness.platforms.discord import ScriptedDiscord


@pytest.fixture
async def discord_server() -> AsyncIterator[ScriptedDiscord]:
    server = ScriptedDiscord()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
