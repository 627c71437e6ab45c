"""Fixture `slack`: a scripted Slack (Web API, Socket Mode, Events API) on 127.0.0.1 per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.platforms.slack import ScriptedSlack


@pytest.fixture
def slack() -> Iterator[ScriptedSlack]:
    server = ScriptedSlack()
    try:
        yield server
    finally:
        server.close()
