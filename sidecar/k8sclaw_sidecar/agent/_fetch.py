"""fetch_url: HTTP(S) GET with SSRF protection and size/time caps.

Every hop (including redirects) is resolved first and refused when any address is
private, loopback, link-local, reserved or multicast — unless the explicit
`fetch_allow_private` setting is on (tests only).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx

from k8sclaw_sidecar.agent._files import ToolError

MAX_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_CHARS = 50_000
MAX_CHARS = 100_000


async def check_public(url: str) -> None:
    """Refuse non-http(s) URLs and hosts that resolve to non-public addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError(f"only http and https URLs can be fetched, not {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port)
    except socket.gaierror as exc:
        raise ToolError(f"cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if not addr.is_global or addr.is_multicast:
            raise ToolError(f"{parts.hostname} resolves to a non-public address ({addr})")


async def fetch_url(url: str, max_chars: int, *, allow_private: bool) -> str:
    """GET `url` following up to 5 checked redirects; returns text capped at `max_chars`."""
    max_chars = max(1, min(max_chars or DEFAULT_MAX_CHARS, MAX_CHARS))
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            if not allow_private:
                await check_public(url)
            try:
                async with client.stream("GET", url) as resp:
                    if resp.is_redirect and "location" in resp.headers:
                        url = urljoin(url, resp.headers["location"])
                        continue
                    body = await _read_capped(resp)
                    text = body.decode(resp.encoding or "utf-8", errors="replace")
                    if resp.status_code >= 400:
                        return f"HTTP {resp.status_code}\n{text[:2000]}"
                    return text[:max_chars]
            except httpx.HTTPError as exc:
                raise ToolError(f"fetching {url} failed: {exc}") from exc
    raise ToolError(f"too many redirects (more than {MAX_REDIRECTS})")


async def _read_capped(resp: httpx.Response) -> bytes:
    chunks, size = [], 0
    async for chunk in resp.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BYTES:
            break
    return b"".join(chunks)[:MAX_BYTES]
