"""The committed OpenAPI document is the served one, and the API holds up against
requests generated from it (schemathesis): never a 5xx, every error in the one shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from k8sclaw_controllers.apiserver._main import openapi_document
from tests.controllers.apiserver._server import ADMIN_TOKEN

DOC = Path(__file__).parents[3] / "docs" / "openapi.json"


def test_committed_openapi_document_is_current() -> None:
    assert DOC.read_text() == openapi_document(), (
        "docs/openapi.json is stale: run `uv run k8sclaw-apiserver --print-openapi > "
        "docs/openapi.json`"
    )


def test_served_openapi_document_is_the_committed_one(api: str) -> None:
    served = httpx.get(f"{api}/openapi.json", timeout=60).json()
    assert served == json.loads(DOC.read_text())


def _error_shape(response: Any) -> None:
    if response.status_code < 400:
        return
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "reason", "message"}, body
    assert body["error"]["code"] == response.status_code, body


CALLS: list[int] = []


def _call(case: Any) -> None:
    for token in (ADMIN_TOKEN, None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = case.call(headers=headers, timeout=60)
        CALLS.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])
        _error_shape(response)


def test_generated_requests_never_5xx_and_errors_keep_their_shape(api: str) -> None:
    """Each operation of the document, with hypothesis-generated parameters and bodies (the
    schemathesis pytest plugin does not load under this pytest; its engine is used directly)."""
    schema = schemathesis.openapi.from_url(f"{api}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        check = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))(
            given(case=operation.as_strategy())(_call)
        )
        check()
    statuses = set(CALLS)
    assert {200, 401, 422} <= statuses, statuses  # the generator reached the handlers
