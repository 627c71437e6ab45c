"""Fixture `telegram_api`: a scripted Telegram Bot API server per test (see
`tests.harness.platforms.telegram`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.platforms.telegram import TelegramServer


@pytest.fixture
def telegram_api() -> Iterator[TelegramServer]:
    server = TelegramServer()
    try:
        yield server
    finally:
        server.close()
