"""Stopping a scripted platform's aiohttp server (an outage, or the end of a test) without
leaking a half-made connection."""

from __future__ import annotations

import asyncio

from aiohttp import web


async def stop(runner: web.AppRunner) -> None:
    """Stop accepting, let connections already accepted finish connecting, then
    `runner.cleanup()` (which closes those too).

    On Python 3.11 a connection accepted in the loop iteration before `Server.close()` is
    made into a transport one iteration later, against the closed server: its `__init__`
    fails (`Server._attach` asserts the server is open) after taking the socket, so nothing
    closes it and the test fails on `ResourceWarning: unclosed transport` when it is
    garbage-collected. That is what happened under CPU load when a client reconnected
    just as `down()` ran."""
    loop = asyncio.get_running_loop()
    for site in runner.sites:
        server = site._server  # aiohttp keeps the asyncio.Server private
        for sock in getattr(server, "sockets", None) or ():
            loop.remove_reader(sock.fileno())
    await asyncio.sleep(0.05)  # the accepted ones reach connection_made (port still open)
    await runner.cleanup()
