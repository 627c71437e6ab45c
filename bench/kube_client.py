"""The controller's REST client per request: our HTTP/1.1 client vs the aiohttp path it replaced.

N sequential POSTs of small ConfigMaps, then N merge patches of them, through (1) a minimal
copy of the aiohttp-based `Kube._request` the controller used before (kept here only as
the baseline) and (2) `_kube.Kube` as it is now, against the kube emulator in its own
process. Prints wall and client-CPU microseconds per request and the new/old ratios of
the same run. A figure, never a pass/fail on time.

    uv run python bench/kube_client.py [--requests 2000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.controller import emulator_process
from k8sclaw_controllers.manager import _kube

Body = dict[str, Any]
Send = Callable[[str, str, Body, str], Awaitable[Body]]  # method, path, body, content type


class AiohttpBaseline:
    """The request path `Kube` had before `_http`: one aiohttp session, orjson both ways."""

    def __init__(self, config: Any) -> None:
        headers = {"Accept": "application/json"}
        if auth := _kube.auth_header(config):
            headers["Authorization"] = auth
        ssl = _kube._ssl_context(config) or False
        self._host = config.host.rstrip("/")
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64, ssl=ssl),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=60),
            json_serialize=lambda body: orjson.dumps(body).decode(),
        )

    async def send(self, method: str, path: str, body: Body, content_type: str) -> Body:
        headers = {"Content-Type": content_type}
        async with self._session.request(
            method, self._host + path, json=body, headers=headers
        ) as response:
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {await response.text()}")
            result: Body = await response.json(loads=orjson.loads)
            return result

    async def close(self) -> None:
        await self._session.close()


async def ours(kube: _kube.Kube, method: str, path: str, body: Body, content_type: str) -> Body:
    """The same two calls through `Kube` (create = POST, patch = merge PATCH)."""
    if method == "POST":
        return await kube.create(path, body)
    return await kube.patch(path, body, content_type)


async def timed(send: Send, namespace: str, prefix: str, n: int) -> tuple[float, float]:
    """(wall s, client CPU s) of n POSTs then n merge patches."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        body = {"metadata": {"name": f"{prefix}-{i}"}, "data": {"k": "v"}}
        await send("POST", base, body, "application/json")
    for i in range(n):
        await send("PATCH", f"{base}/{prefix}-{i}", {"data": {"k": "w"}}, _kube.MERGE)
    return time.perf_counter() - wall, time.process_time() - cpu


async def measure(kubeconfig: Path, n: int, rounds: int) -> None:
    config = _kube.load_configuration(str(kubeconfig))
    kube = _kube.Kube.connect(config)
    baseline = AiohttpBaseline(config)
    namespace = f"bench-{secrets.token_hex(3)}"
    await kube.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    clients: dict[str, Send] = {
        "aiohttp": baseline.send,
        "ours": lambda *args: ours(kube, *args),
    }
    best: dict[str, tuple[float, float]] = {}
    try:
        for round_ in range(rounds):
            for name, send in clients.items():
                await timed(send, namespace, f"warm-{name}-{round_}", 50)
                wall, cpu = await timed(send, namespace, f"{name}-{round_}", n)
                print(f"  round {round_ + 1} {name:8s} {_per(wall, n)} wall {_per(cpu, n)} CPU")
                old = best.get(name, (wall, cpu))
                best[name] = (min(old[0], wall), min(old[1], cpu))
    finally:
        await baseline.close()
        await kube.close()
    (old_wall, old_cpu), (new_wall, new_cpu) = best["aiohttp"], best["ours"]
    print(f"per request (best of {rounds}), {2 * n} requests each:")
    print(f"  aiohttp  {_per(old_wall, n)} wall {_per(old_cpu, n)} client CPU")
    print(f"  ours     {_per(new_wall, n)} wall {_per(new_cpu, n)} client CPU")
    print(f"  new/old  wall {new_wall / old_wall:.2f}x   client CPU {new_cpu / old_cpu:.2f}x")


def _per(seconds: float, n: int) -> str:
    return f"{seconds / (2 * n) * 1e6:7.1f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="POSTs (and as many PATCHes)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with ExitStack() as stack:
        kubeconfig = stack.enter_context(emulator_process())
        print("kube REST client bench against the kube emulator (its own process)")
        asyncio.run(measure(kubeconfig, args.requests, args.rounds))


if __name__ == "__main__":
    main()
