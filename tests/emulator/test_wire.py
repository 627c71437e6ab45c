"""JSON on the wire: what a body may hold, how it comes back, and the decode errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.emulator._util import core, unique
from tests.harness.kube import KubeEnv, _wire


def _post(kube: KubeEnv, path: str, data: bytes) -> tuple[int, dict[str, Any]]:
    """POST bytes as they are (the API client would encode a str body as a JSON string)."""
    client = kube.api_client
    method, url, headers, _, _ = client.param_serialize(
        "POST",
        path,
        auth_settings=["BearerToken"],
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
    )
    response = client.rest_client.pool_manager.request(method, url, body=data, headers=headers)
    return response.status, json.loads(response.data)


def test_non_ascii_round_trips(kube: KubeEnv) -> None:
    name, text = unique("cm"), "héllo ✓ 日本 \U0001f600"
    core(kube).create_namespaced_config_map(
        kube.namespace, {"metadata": {"name": name}, "data": {"t": text}}
    )
    assert core(kube).read_namespaced_config_map(name, kube.namespace).data == {"t": text}


def test_nan_is_not_json(kube: KubeEnv) -> None:
    """Go's decoder (kube-apiserver's) rejects NaN and Infinity; the message is
    kube-apiserver's, quoting the body's first 30 bytes."""
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    status, result = _post(kube, path, b'{"metadata": {"name": "nan"}, "data": {"x": NaN}}')
    assert (status, result["reason"]) == (400, "BadRequest")
    assert result["message"] == (
        "the object provided is unrecognized (must be of type ConfigMap): couldn't get "
        "version/kind; json parse error: invalid character 'N' looking for beginning of value "
        '({"metadata": {"name": "nan"},  ...)'
    )


def test_invalid_json_message_is_the_api_servers(kube: KubeEnv) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    status, result = _post(kube, path, b'{"metadata": ')
    assert (status, result["reason"]) == (400, "BadRequest")
    assert result["message"] == (
        "the object provided is unrecognized (must be of type ConfigMap): couldn't get "
        'version/kind; json parse error: unexpected end of JSON input ({"metadata": )'
    )


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b'{"a" 1}', "invalid character '1' after object key"),
        (b'{"a": 1} x', "invalid character 'x' after top-level value"),
        (b"{1: 2}", "invalid character '1' looking for beginning of object key string"),
        (b'{"a": 1 "b": 2}', "invalid character '\"' after object key:value pair"),
        (b"", "unexpected end of JSON input"),
    ],
)
def test_parse_errors_read_as_gos(raw: bytes, error: str) -> None:
    assert _wire.go_error(raw) == error


def test_values_beyond_orjson_fall_back_to_the_standard_library() -> None:
    value = {"big": 2**70, "nested": [{"n": -(2**65)}]}
    assert json.loads(_wire.dumps(value)) == value
    assert _wire.loads(b'{"big": 1180591620717411303424}') == {"big": 2**70}
    assert json.loads(_wire.dumps({"t": "é✓"})) == {"t": "é✓"}
