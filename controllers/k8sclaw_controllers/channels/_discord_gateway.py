"""discord.py's gateway client, wired to the runtime's `Inbound`, with one connection per
`serve()` call so the runtime owns reconnecting, and the Discord session kept between
calls so a reconnect RESUMEs and Discord replays what was missed.

discord.py's own `Client.connect` either reconnects forever by itself or closes the whole
client (and forgets the session) on the first error; neither fits the adapter contract,
so `serve` runs the same steps (`DiscordWebSocket.from_client`, `poll_event`, follow
`ReconnectWebSocket`) with the session parameters carried over.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import discord
from discord.gateway import DiscordWebSocket, ReconnectWebSocket

from k8sclaw_controllers.channels import _discord_inbound
from k8sclaw_controllers.channels._adapter import Inbound
from k8sclaw_protocol._chat import HealthState

log = logging.getLogger(__name__)

RATE_LIMIT_WAIT: Final = 30.0
"""Rate limits up to this long discord.py waits out itself (its minimum); longer ones come
back as errors so the runtime decides."""
GUILD_READY_TIMEOUT: Final = 0.5
"""How long after the last GUILD_CREATE discord.py waits before READY counts (default 2 s):
guilds arriving later are still served, only the Connected report waits for this."""
CONNECT_TIMEOUT: Final = 60.0
CLOSE_TIMEOUT: Final = 5.0


def intents() -> discord.Intents:
    """Guild and DM messages with their content (a privileged intent: enable it in the
    Developer Portal), guilds for channels and threads; nothing else."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = True
    return wanted


class GatewayClient(discord.Client):
    """discord.py's client with its events handed to the runtime's `Inbound`."""

    def __init__(self) -> None:
        super().__init__(
            intents=intents(),
            max_ratelimit_timeout=RATE_LIMIT_WAIT,
            guild_ready_timeout=GUILD_READY_TIMEOUT,
            chunk_guilds_at_startup=False,
        )
        self.inbound: Inbound | None = None
        self.logged_in = False

    async def serve(self, inbound: Inbound) -> None:
        """One gateway connection until it fails (raises) or is cancelled; never returns.
        Discord's own RECONNECT/INVALID_SESSION requests are followed in place."""
        self.inbound = inbound
        params = self._session_params()
        try:
            while True:
                try:
                    await self._connected(params)
                except ReconnectWebSocket as request:
                    self.dispatch("disconnect")
                    params = self._after_request(request.resume)
        except asyncio.CancelledError:
            await self._drop_socket()
            raise
        except Exception:
            self.dispatch("disconnect")
            await self._drop_socket()
            raise

    async def _connected(self, params: dict[str, Any]) -> None:
        connecting = DiscordWebSocket.from_client(self, **params)
        self.ws = await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
        while True:
            await self.ws.poll_event()

    def _session_params(self) -> dict[str, Any]:
        """RESUME the last session if there is one, else a first IDENTIFY."""
        ws: DiscordWebSocket | None = self.ws
        if ws is None or ws.session_id is None:
            return {"initial": True, "shard_id": None}
        return self._after_request(resume=True)

    def _after_request(self, resume: bool) -> dict[str, Any]:
        params: dict[str, Any] = {
            "initial": False,
            "shard_id": None,
            "sequence": self.ws.sequence,
            "session": self.ws.session_id,
            "resume": resume,
        }
        if resume:
            params["gateway"] = self.ws.gateway
        return params

    async def _drop_socket(self) -> None:
        """Close the socket with 4000, which (unlike 1000) keeps the session resumable."""
        ws: DiscordWebSocket | None = self.ws
        if ws is not None and ws.open:
            try:
                await asyncio.wait_for(ws.close(code=4000), CLOSE_TIMEOUT)
            except (TimeoutError, OSError) as exc:
                log.debug("closing the gateway socket failed: %s", type(exc).__name__)

    async def on_ready(self) -> None:
        await self._health("Connected")

    async def on_resumed(self) -> None:
        await self._health("Connected")

    async def on_disconnect(self) -> None:
        await self._health("Disconnected")

    async def _health(self, state: HealthState) -> None:
        if self.inbound is not None:
            await self.inbound.health(state)

    async def on_message(self, message: discord.Message) -> None:
        own = self.user.id if self.user is not None else None
        received = _discord_inbound.from_message(message, own)
        if received is not None and self.inbound is not None:
            await self.inbound.received(received)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        received = _discord_inbound.from_interaction(interaction)
        if received is None or self.inbound is None:
            return
        try:
            await interaction.response.defer()  # type 6: acknowledged, card unchanged
        except discord.HTTPException as exc:
            log.warning("could not acknowledge a button press: HTTP %s", exc.status)
        await self.inbound.received(received)
