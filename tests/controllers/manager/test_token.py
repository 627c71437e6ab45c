"""Rotating ServiceAccount tokens (issue #13 item 7): the controller's and webhook's client
(`_kube.Kube` over `_http`) against a real HTTPS server on 127.0.0.1 that accepts only the
token it currently holds, while the test rotates the client's token file under it."""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
import yaml
from aiohttp import web

from k8sclaw_controllers.manager import _kube, _token


@dataclass
class Server:
    """The API server's view: the one token it accepts and every Authorization it saw."""

    token: str
    url: str = ""
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization)

    def statuses(self) -> list[int]:
        return [200 if auth == f"Bearer {self.token}" else 401 for _, auth in self.seen]


@contextlib.asynccontextmanager
async def https_server(token: str, ca: trustme.CA) -> AsyncIterator[Server]:
    server = Server(token)

    async def serve(request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        server.seen.append((request.path, auth))
        if auth != f"Bearer {server.token}":
            return web.json_response(
                {"kind": "Status", "reason": "Unauthorized", "message": "Unauthorized"},
                status=401,
            )
        if request.query.get("watch") == "true":
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(b'{"type":"ADDED","object":{}}\n')
            await response.write_eof()
            return response
        return web.json_response({"kind": "Pod", "path": request.path})

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"https://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


def kubeconfig(tmp_path: Path, url: str, ca: trustme.CA) -> Path:
    """A kubeconfig whose user reads its token from `token` beside it (a relative path)."""
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cluster = {"server": url, "certificate-authority": str(tmp_path / "ca.pem")}
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"tokenFile": "token"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def rotate(path: Path, token: str) -> None:
    """As the kubelet does: write a new file, rename it over the old one (a new inode)."""
    new = path.with_name(path.name + ".new")
    new.write_text(token + "\n")
    os.replace(new, path)


def rewrite_in_place(path: Path, token: str) -> None:
    """A rewrite the per-request `stat` cannot see: same inode, size and mtime."""
    before = path.stat()
    with open(path, "r+") as file:
        file.write(token + "\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@contextlib.asynccontextmanager
async def client(tmp_path: Path, server: Server, ca: trustme.CA) -> AsyncIterator[_kube.Kube]:
    config = _kube.load_configuration(str(kubeconfig(tmp_path, server.url, ca)))
    assert _kube.token_file(config) == str(tmp_path / "token")
    kube = _kube.Kube.connect(config, limit=1)  # one kept-alive connection throughout
    try:
        yield kube
    finally:
        await kube.close()


async def test_a_rotated_token_file_is_used_from_the_next_request(
    ca: trustme.CA, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("token-one\n")
    async with https_server("token-one", ca) as server, client(tmp_path, server, ca) as kube:
        await kube.get("/api/v1/namespaces/a/pods/p")
        rotate(tmp_path / "token", "token-two")
        server.token = "token-two"  # the old token is refused from now on
        got = await kube.get("/api/v1/namespaces/a/pods/q")
    assert got["path"] == "/api/v1/namespaces/a/pods/q"
    assert [auth for _, auth in server.seen] == ["Bearer token-one", "Bearer token-two"]


async def test_a_401_rereads_the_file_and_retries_once(ca: trustme.CA, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("token-aaa\n")
    async with https_server("token-aaa", ca) as server, client(tmp_path, server, ca) as kube:
        await kube.get("/api/v1/namespaces/a/pods/p")
        rewrite_in_place(tmp_path / "token", "token-bbb")
        server.token = "token-bbb"
        created = await kube.create("/api/v1/namespaces/a/pods", {"kind": "Pod"})
    assert created["path"] == "/api/v1/namespaces/a/pods"
    assert [auth for _, auth in server.seen] == [
        "Bearer token-aaa",
        "Bearer token-aaa",  # the stale token, refused with 401 ...
        "Bearer token-bbb",  # ... then the re-read one, once
    ]


async def test_a_watch_refused_with_401_is_reopened_with_the_new_token(
    ca: trustme.CA, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("token-aaa\n")
    async with https_server("token-aaa", ca) as server, client(tmp_path, server, ca) as kube:
        rewrite_in_place(tmp_path / "token", "token-bbb")
        server.token = "token-bbb"
        lines = [line async for line in kube.stream_lines("/api/v1/pods", {"watch": "true"}, 30)]
    assert lines == [b'{"type":"ADDED","object":{}}']
    assert server.statuses() == [401, 200]


async def test_a_token_still_refused_after_rereading_is_not_sent_again(
    ca: trustme.CA, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("revoked\n")
    async with https_server("something-else", ca) as server, client(tmp_path, server, ca) as kube:
        with pytest.raises(_kube.KubeError, match="401 Unauthorized") as caught:
            await kube.get("/api/v1/namespaces/a/pods/p")
    assert caught.value.status == 401
    assert server.statuses() == [401]


async def test_a_token_file_unreadable_mid_rotation_keeps_the_last_token(
    ca: trustme.CA, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("token-one\n")
    async with https_server("token-one", ca) as server, client(tmp_path, server, ca) as kube:
        (tmp_path / "token").unlink()  # between the kubelet's unlink and rename
        await kube.get("/api/v1/namespaces/a/pods/p")
        rotate(tmp_path / "token", "token-two")
        server.token = "token-two"
        await kube.get("/api/v1/namespaces/a/pods/p")
    assert [auth for _, auth in server.seen] == ["Bearer token-one", "Bearer token-two"]


@pytest.mark.parametrize(
    "content",
    [b"", b"abc\r\nX-Injected: 1", b"tok en", b"t\xc3\xa9", b"x" * (_token.MAX_TOKEN_BYTES + 1)],
    ids=["empty", "crlf", "space", "non-ascii", "huge"],
)
def test_a_file_that_holds_no_bearer_token_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "token"
    path.write_bytes(content)
    with pytest.raises(_token.TokenError):
        _token.TokenFile(str(path))


def test_a_bad_rewrite_keeps_the_good_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("good\n")
    token = _token.TokenFile(str(path))
    rotate(path, "bad\r\nX-Injected: 1")
    assert token.header() == "Bearer good"
    rotate(path, "better")
    assert token.header() == "Bearer better"


def test_a_literal_kubeconfig_token_has_no_file_to_follow(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "literal"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    config = _kube.load_configuration(str(path))
    assert _kube.token_file(config) is None
    assert _kube.auth_header(config) == "Bearer literal"
