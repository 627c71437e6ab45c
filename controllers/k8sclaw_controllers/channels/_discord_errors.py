"""discord.py and network failures translated, once, into the adapter contract's errors
(`UnauthorizedError`, `RateLimitedError`, `UnavailableError`, else `PlatformError`).

Messages carry the platform's own words or the exception's type, never the token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import aiohttp
import discord

from k8sclaw_controllers.channels._adapter import (
    PlatformError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
)

_CLOSE_BAD_TOKEN: Final = 4004
_CLOSE_INTENTS: Final = 4014
_NO_INTENT: Final = "message content intent not enabled for this bot in the Developer Portal"


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Run the block; re-raise what discord.py or the network raised as a `PlatformError`."""
    try:
        yield
    except PlatformError:
        raise
    except Exception as exc:
        raise translate(exc) from exc


def translate(exc: Exception) -> PlatformError:
    """The contract's error for one failure (anything unforeseen counts as unavailable,
    so a malformed frame from the platform ends in a reconnect, not a crash)."""
    if isinstance(exc, discord.LoginFailure):
        return UnauthorizedError("unauthorized")
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return UnauthorizedError(_NO_INTENT)
    if isinstance(exc, discord.RateLimited):
        return RateLimitedError("rate limited", exc.retry_after)
    if isinstance(exc, discord.ConnectionClosed):
        return _closed(exc)
    if isinstance(exc, discord.HTTPException):
        return _http(exc)
    return _unreachable(exc)


def _unreachable(exc: Exception) -> PlatformError:
    if isinstance(exc, OSError | aiohttp.ClientError | asyncio.TimeoutError):
        return UnavailableError(f"cannot reach Discord: {type(exc).__name__}")
    if isinstance(exc, discord.GatewayNotFound):
        return UnavailableError("Discord gateway not found")
    return UnavailableError(f"unreadable answer from Discord: {type(exc).__name__}")


def _closed(exc: discord.ConnectionClosed) -> PlatformError:
    if exc.code == _CLOSE_BAD_TOKEN:
        return UnauthorizedError("unauthorized")
    if exc.code == _CLOSE_INTENTS:
        return UnauthorizedError(_NO_INTENT)
    return UnavailableError(f"gateway closed the connection ({exc.code})")


def _http(exc: discord.HTTPException) -> PlatformError:
    words = exc.text or f"HTTP {exc.status}"
    if exc.status == 401:
        return UnauthorizedError("unauthorized")
    if exc.status == 429:
        return RateLimitedError(words, _retry_after(exc))
    if exc.status >= 500:
        return UnavailableError(words)
    return PlatformError(words)


def _retry_after(exc: discord.HTTPException) -> float:
    """Seconds to wait from a 429 discord.py did not handle itself (no `Via` header)."""
    header = exc.response.headers.get("Retry-After", "") if exc.response is not None else ""
    try:
        return max(0.0, float(header))
    except ValueError:
        return 1.0
