"""The API server under test: `build_app` served by uvicorn on a free port in a thread,
talking to the test's cluster (emulator or real) with the test kubeconfig's admin user,
as the deployed server talks with its ServiceAccount."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import uvicorn

from k8sclaw_controllers.apiserver import Settings
from k8sclaw_controllers.apiserver._main import config
from tests.harness.nats_fixtures import free_port

ADMIN_TOKEN = "test-static-admin-token-0123456789"


@contextmanager
def running(settings: Settings) -> Iterator[str]:
    """Serve until the block ends; yields the base URL (http://127.0.0.1:PORT)."""
    settings = replace(settings, host="127.0.0.1", port=settings.port or free_port())
    with serving(uvicorn.Server(config(settings))):
        yield f"http://127.0.0.1:{settings.port}"


@contextmanager
def serving(server: uvicorn.Server) -> Iterator[None]:
    """`server` on its own thread until the block ends (started within 60 s, or raise)."""
    thread = threading.Thread(target=server.run, name="apiserver-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start; see the log above")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def settings_for(
    kubeconfig: Path, data_dir: Path, bus_url: str | None = None, bus_creds: Path | None = None
) -> Settings:
    return Settings(
        kubeconfig=str(kubeconfig),
        data_dir=data_dir,
        event_bus_url=bus_url,
        bus_creds=bus_creds,
        api_token=ADMIN_TOKEN,
        port=0,
    )


def client(base: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base, headers=headers, timeout=60)
