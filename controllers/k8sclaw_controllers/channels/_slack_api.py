"""Slack Web API calls with Slack's failures translated once into the adapter's errors.

slack-sdk raises `SlackApiError` for `{"ok": false}` answers and HTTP errors, and aiohttp's
errors for the network; the runtime understands only the adapter contract's three kinds
(and `PlatformError` for a refusal that retrying will not fix, e.g. `channel_not_found`).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Mapping
from typing import Any, Final, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from k8sclaw_controllers.channels._adapter import (
    PlatformError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
)

T = TypeVar("T")

UNAUTHORIZED: Final = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "missing_scope",
        "no_permission",
        "team_access_not_granted",
    }
)
"""Errors a fixed token or app configuration (not a retry) cures."""
DEFAULT_RETRY_AFTER: Final = 1.0
MAX_RETRY_AFTER: Final = 3600.0


async def call(request: Awaitable[T]) -> T:
    """Await one Web API call; raise the adapter's error for whatever went wrong."""
    try:
        return await request
    except SlackApiError as error:
        answer = error.response
        raise translate(answer.status_code, answer.data, answer.headers) from error
    except (TimeoutError, aiohttp.ClientError, OSError, SlackClientError) as error:
        raise UnavailableError(f"Slack unreachable: {type(error).__name__}") from error
    except ValueError as error:  # an answer that is not Slack's JSON (a proxy's error page)
        raise UnavailableError("Slack answered something that is not JSON") from error


def translate(status: int, data: Any, headers: Mapping[str, str]) -> PlatformError:
    """The adapter error for one failed answer (status, body, headers)."""
    code = data.get("error") if isinstance(data, dict) else None
    code = str(code)[:200] if code else None
    if status == 429 or code == "ratelimited":
        return RateLimitedError(code or "ratelimited", retry_after(headers))
    if code in UNAUTHORIZED:
        return UnauthorizedError(f"unauthorized: {code}")
    if status >= 500 or status == 408:
        return UnavailableError(f"Slack answered HTTP {status}" + (f" ({code})" if code else ""))
    return PlatformError(code or f"Slack answered HTTP {status}")


def retry_after(headers: Mapping[str, str]) -> float:
    """Seconds from a `Retry-After` header, bounded; a missing or bad one means one second."""
    try:
        seconds = float(headers.get("Retry-After", ""))
    except ValueError:
        return DEFAULT_RETRY_AFTER
    if not math.isfinite(seconds):
        return DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
