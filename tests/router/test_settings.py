"""The API server runs the router when the router's creds are configured, unless told not to."""

from __future__ import annotations

from pathlib import Path

from k8sclaw_controllers.apiserver._settings import resolve


def test_router_creds_come_from_the_mounted_directory() -> None:
    settings = resolve([], {"K8SCLAW_ROUTER_CREDS_DIR": "/var/run/k8sclaw/router"})
    assert settings.router_creds == Path("/var/run/k8sclaw/router/user.creds")
    assert settings.router


def test_no_router_turns_it_off_and_no_creds_means_none() -> None:
    assert not resolve(["--no-router"], {"K8SCLAW_ROUTER_CREDS_DIR": "/x"}).router
    assert resolve([], {}).router_creds is None
    assert resolve(["--router-creds", "/r.creds"], {}).router_creds == Path("/r.creds")
