"""Fan-out frames are encoded once and written straight to uvicorn's transport: the
prebuilt bytes are valid WebSocket frames, and under the server configuration the API
server really runs with (`_main.config`) the direct path is the one taken (an upgrade of
uvicorn that moved its internals would fall back silently; this test says so)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader
from websockets.sync.client import connect

from k8sclaw_controllers.apiserver import Settings
from k8sclaw_controllers.apiserver._main import config
from k8sclaw_controllers.apiserver._stream import Frame, RawSocket, Sender
from tests.controllers.apiserver._server import serving
from tests.harness.nats_fixtures import free_port


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_prebuilt_frame_parses_as_one_unmasked_text_frame(size: int) -> None:
    payload = b"x" * size
    reader = StreamReader()
    reader.feed_data(Frame.of(payload).wire)
    reader.feed_eof()
    parser = WsFrame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
        raise AssertionError("the frame was incomplete")
    except StopIteration as done:
        frame = done.value
    assert frame.opcode == Opcode.TEXT and frame.fin
    assert frame.data == payload


async def _endpoint(ws: WebSocket) -> None:
    await ws.accept()
    sender = Sender(ws)
    mode = b"direct" if sender.raw is not None else b"asgi"
    big = b'"' + b"y" * 70_000 + b'"'
    await sender.send([Frame.of(b'"' + mode + b'"'), Frame.of(b"[1,2]"), Frame.of(big)])
    await sender.send([Frame.of(b'"last"')])
    await ws.receive()  # until the client closes


@contextmanager
def _serving(tmp_path: Path) -> Iterator[str]:
    app = Starlette(routes=[WebSocketRoute("/ws", _endpoint)])
    app.add_middleware(RawSocket)
    port = free_port()
    settings = replace(Settings(), host="127.0.0.1", port=port, data_dir=tmp_path)
    with serving(uvicorn.Server(replace_lifespan(config(settings, app)))):
        yield f"ws://127.0.0.1:{port}/ws"


def replace_lifespan(cfg: uvicorn.Config) -> uvicorn.Config:
    cfg.lifespan = "off"  # the bare app has no lifespan; everything else is production's
    return cfg


def test_batches_are_written_directly_and_arrive_as_separate_messages(tmp_path: Path) -> None:
    with _serving(tmp_path) as url, connect(url, open_timeout=60, max_size=None) as ws:
        got = [ws.recv(timeout=60) for _ in range(4)]
    assert got[0] == '"direct"', "the fast path was not taken under _main.config"
    assert got[1] == "[1,2]"
    assert got[2] == '"' + "y" * 70_000 + '"'
    assert got[3] == '"last"'
