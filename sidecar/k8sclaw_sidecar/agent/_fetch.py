"""fetch_url: HTTP(S) GET with SSRF protection that DNS rebinding cannot get around.

Every hop (the URL and each redirect target) is resolved exactly once; every address
of the answer must be public (not private, loopback, link-local — the cloud metadata
address included —, reserved, multicast, or such an IPv4 address mapped into IPv6),
else the fetch is refused. The connection then goes to the checked address itself
(the URL's host replaced by the IP), with the original name kept in the `Host` header
and as the TLS SNI name / certificate check, so a second resolution that swaps in a
private address never happens. Redirects are followed by hand (at most 5), each hop
checked the same way; the body is capped in bytes and the whole fetch in time.

`allow_networks` lets listed networks through the check. It is a code-only setting
(`AgentSettings.fetch_allow_networks`, no environment variable), so tests can reach a
server on 127.0.0.1 while a deployed agent cannot turn the guard off by configuration.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from k8sclaw_sidecar.agent._files import ToolError

MAX_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_CHARS = 50_000
MAX_CHARS = 100_000

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> the addresses to consider; injectable so tests need no real DNS."""

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


async def system_resolve(host: str, port: int) -> list[str]:
    """Resolve with the system resolver (getaddrinfo), TCP addresses only."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _embedded_v4(addr: Address) -> Address:
    """The IPv4 address hidden in an IPv4-mapped or NAT64 IPv6 address, else `addr`."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr in _NAT64:
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr


def check_address(addr: Address, allow: Sequence[Network] = ()) -> None:
    """Refuse addresses that are not public (after unwrapping embedded IPv4)."""
    inner = _embedded_v4(addr)
    if any(inner in net for net in allow if inner.version == net.version):
        return
    if not inner.is_global or inner.is_multicast:
        raise ToolError(f"refusing to fetch from a non-public address ({addr})")


@dataclass(frozen=True)
class Pinned:
    """One hop: the URL to request (host = the checked IP) and the name it stands for."""

    url: str
    host: str
    host_header: str


async def pin(url: str, resolve: Resolve, allow: Sequence[Network] = ()) -> Pinned:
    """Resolve `url`'s host once, check every address, and pin the request to the first."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError(f"only http and https URLs can be fetched, not {url!r}")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ToolError(f"bad port in {url!r}") from exc
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in await resolve(host, port)]
        except (OSError, ValueError) as exc:
            raise ToolError(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise ToolError(f"{host} did not resolve to any address")
    for addr in addresses:
        check_address(addr, allow)
    chosen = addresses[0]
    netloc = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    if parts.port:
        netloc += f":{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = f"[{host}]" if ":" in host else host
    return Pinned(pinned, host, host_header + (f":{parts.port}" if parts.port else ""))


async def fetch_url(
    url: str,
    max_chars: int,
    *,
    allow_networks: Sequence[str] = (),
    resolve: Resolve = system_resolve,
    max_bytes: int = MAX_BYTES,
    seconds: float = TIMEOUT_SECONDS,
    verify: ssl.SSLContext | bool = True,
) -> str:
    """GET `url` following up to 5 checked redirects; returns text capped at `max_chars`."""
    max_chars = max(1, min(max_chars or DEFAULT_MAX_CHARS, MAX_CHARS))
    allow = [ipaddress.ip_network(n) for n in allow_networks]
    try:
        async with asyncio.timeout(seconds):
            async with httpx.AsyncClient(
                timeout=seconds, follow_redirects=False, verify=verify, trust_env=False
            ) as client:
                hops = _Hops(client, allow, resolve, max_bytes)
                return await hops.follow(url, max_chars)
    except TimeoutError as exc:
        raise ToolError(f"fetching {url} took longer than {seconds:g}s") from exc


@dataclass(frozen=True)
class _Hops:
    """One fetch: the client and the rules every hop is held to."""

    client: httpx.AsyncClient
    allow: Sequence[Network]
    resolve: Resolve
    max_bytes: int

    async def follow(self, url: str, max_chars: int) -> str:
        for _ in range(MAX_REDIRECTS + 1):
            redirect, text = await self._hop(url, max_chars)
            if redirect is None:
                return text
            url = redirect
        raise ToolError(f"too many redirects (more than {MAX_REDIRECTS})")

    async def _hop(self, url: str, max_chars: int) -> tuple[str | None, str]:
        """(the redirect target, "") or (None, the capped text) for one checked hop."""
        hop = await pin(url, self.resolve, self.allow)
        extensions = {"sni_hostname": hop.host} if url.startswith("https") else {}
        try:
            async with self.client.stream(
                "GET", hop.url, headers={"Host": hop.host_header}, extensions=extensions
            ) as resp:
                if resp.is_redirect and "location" in resp.headers:
                    return urljoin(url, resp.headers["location"]), ""
                body, cut = await _read_capped(resp, self.max_bytes)
        except httpx.HTTPError as exc:
            raise ToolError(f"fetching {url} failed: {exc}") from exc
        text = body.decode(resp.encoding or "utf-8", errors="replace")
        if resp.status_code >= 400:
            return None, f"HTTP {resp.status_code}\n{text[:2000]}"
        note = f"\n... (truncated at {self.max_bytes} bytes)" if cut else ""
        return None, text[:max_chars] + note


async def _read_capped(resp: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """At most `max_bytes` of the body, and whether there was more."""
    chunks, size = [], 0
    async for chunk in resp.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return b"".join(chunks)[:max_bytes], True
    return b"".join(chunks), False
