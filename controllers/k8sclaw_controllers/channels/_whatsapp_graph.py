"""WhatsApp Cloud API (Meta Graph) calls for the WhatsApp adapter, over httpx.

Meta ships no async Python SDK, so this is the one place that speaks Graph: the token
check (`GET /{phone-number-id}`) and `POST /{phone-number-id}/messages` for texts,
interactive reply buttons and the read + typing indicator. Graph's error JSON
(`{"error": {"message", "type", "code", "fbtrace_id"}}`) is translated once into the
adapter contract's errors:

- HTTP 429, or code 4 / 80007 / 130429 / 131056 → `RateLimitedError` (retry-after from
  the `Retry-After` header, else `DEFAULT_RETRY_AFTER`)
- HTTP 401, or code 190 (OAuthException) → `UnauthorizedError`
- HTTP 5xx, network errors and timeouts → `UnavailableError`
- anything else (e.g. 400 invalid parameter) → `PlatformError`: retrying will not help
"""

from __future__ import annotations

import logging
import math
from typing import Any, Final

import httpx

from k8sclaw_controllers.channels import _adapter, _whatsapp_format

log = logging.getLogger("k8sclaw.channel.whatsapp")

DEFAULT_API_URL: Final = "https://graph.facebook.com/v21.0"
DEFAULT_RETRY_AFTER: Final = 30.0
"""Graph rarely sends Retry-After; Meta's guidance for throughput limits is to back off."""
MAX_RETRY_AFTER: Final = 3600.0
RATE_LIMIT_CODES: Final = frozenset({4, 80007, 130429, 131056})
UNAUTHORIZED_CODES: Final = frozenset({190})
MAX_ERROR_CHARS: Final = 300
TIMEOUT: Final = httpx.Timeout(15.0, connect=5.0)


class Graph:
    """An authenticated Graph session for one business phone number."""

    def __init__(self, api_url: str, token: str, phone_number_id: str) -> None:
        self._phone = phone_number_id
        self._client = httpx.AsyncClient(
            base_url=api_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
            follow_redirects=False,
        )

    async def check_token(self) -> dict[str, Any]:
        """The phone number's profile; proves the token works for this number."""
        return await self._call("GET", self._phone)

    async def send(self, payload: dict[str, Any]) -> dict[str, Any]:
        """POST one message object (text, interactive, or a read status)."""
        body = {"messaging_product": "whatsapp", **payload}
        return await self._call("POST", f"{self._phone}/messages", body)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            response = await self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise _adapter.UnavailableError(
                f"WhatsApp API unreachable: {type(exc).__name__}"
            ) from exc
        if response.is_success:
            data = _json(response)
            return data if isinstance(data, dict) else {}
        raise translate(response)


def translate(response: httpx.Response) -> _adapter.PlatformError:
    """Graph's error answer as the adapter contract's error, with Meta's own words."""
    status = response.status_code
    code, message = _graph_error(response)
    text = f"{message} (HTTP {status}, code {code})" if code is not None else message
    if status == 429 or code in RATE_LIMIT_CODES:
        return _adapter.RateLimitedError(text, retry_after(response))
    if status == 401 or code in UNAUTHORIZED_CODES:
        return _adapter.UnauthorizedError(f"unauthorized: {text}")
    if status >= 500:
        return _adapter.UnavailableError(text)
    return _adapter.PlatformError(text)


def retry_after(response: httpx.Response) -> float:
    """Seconds from `Retry-After` (delta-seconds form), bounded; the default otherwise."""
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return DEFAULT_RETRY_AFTER
    if not math.isfinite(seconds) or seconds < 0:
        return DEFAULT_RETRY_AFTER
    return min(seconds, MAX_RETRY_AFTER)


def _graph_error(response: httpx.Response) -> tuple[int | None, str]:
    data = _json(response)
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, f"WhatsApp API answered HTTP {response.status_code}"
    code = error.get("code")
    message = _whatsapp_format.clean(str(error.get("message") or "error"))[:MAX_ERROR_CHARS]
    return (code if isinstance(code, int) else None), message


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
