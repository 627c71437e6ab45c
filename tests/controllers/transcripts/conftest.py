"""`store_url`: every transcript test runs on SQLite (None) and on a real PostgreSQL."""

from __future__ import annotations

import pytest

from tests.controllers.transcripts._helpers import BACKENDS, url_for


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest) -> str | None:
    """DATABASE_URL of the backend under test (None: the embedded SQLite file)."""
    return url_for(str(request.param), request)
