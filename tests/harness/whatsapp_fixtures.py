"""Fixture `whatsapp`: a scripted WhatsApp Cloud API (Graph + signed webhooks) per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.platforms.whatsapp import ScriptedWhatsApp


@pytest.fixture
def whatsapp() -> Iterator[ScriptedWhatsApp]:
    server = ScriptedWhatsApp()
    try:
        yield server
    finally:
        server.close()
