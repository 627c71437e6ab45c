"""`k8sclaw-webhook`: dev mode (serve locally, register configurations) or in-cluster mode.

Dev mode: `k8sclaw-webhook --dev-url https://127.0.0.1:9443 --kubeconfig ~/.kube/config`
listens there with a fresh CA, registers `k8sclaw-webhook-dev` configurations with that
URL and caBundle in the kubeconfig's cluster, and removes them on exit.
`--name k8sclaw-webhook` takes over the configurations `k8sclaw install` applied (which
would otherwise keep refusing while no webhook pod runs) and gives them back, as they
were, on exit (docs/policy.md).
In-cluster: serves on :8443 with the mounted cert-manager certificate, or with a
certificate it keeps in Secret `k8sclaw-webhook-tls` and rotates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.webhook import _certs, _configs, _runs, _server, _tls
from k8sclaw_controllers.webhook._admission import Admission
from k8sclaw_controllers.webhook._settings import Settings, resolve
from k8sclaw_controllers.webhook._source import ClusterSource
from k8sclaw_protocol import names

log = logging.getLogger("k8sclaw.webhook")


@dataclass
class Running:
    """A started webhook: its URL, CA and the configurations it registered."""

    url: str
    ca_cert: bytes
    configurations: tuple[_configs.Body, ...]


@contextlib.asynccontextmanager
async def _cluster_source(settings: Settings) -> AsyncIterator[tuple[_kube.Kube, ClusterSource]]:
    """The API client and a `ClusterSource` whose run index is kept by a watch."""
    config = _kube.load_configuration(settings.kubeconfig)
    kube = _kube.Kube.connect(config)
    watch_kube = _kube.Kube.connect(config, limit=1)  # its watch never holds up a read
    index = _runs.RunIndex()
    task = asyncio.create_task(_runs.keep(watch_kube, index))
    try:
        yield kube, ClusterSource(kube, index)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await watch_kube.close()
        await kube.close()


@contextlib.asynccontextmanager
async def dev_webhook(settings: Settings) -> AsyncIterator[Running]:
    """Serve at `settings.dev_url` and keep its configurations registered while inside."""
    host, port = settings.dev_address()
    bundle = _certs.generate([host])
    async with _cluster_source(settings) as (kube, source):
        with tempfile.TemporaryDirectory(prefix="k8sclaw-webhook-") as workdir:
            context = _certs.server_context(bundle, Path(workdir))
            runner = await _server.start(_server.build_app(Admission(source)), host, port, context)
            url = f"https://{host}:{port}"
            bodies = _configs.configurations(
                _configs.url_client(url), bundle.ca_cert, settings.name
            )
            saved = await _configs.taken_over(kube, bodies)  # given back on exit
            try:
                await _configs.register(kube, bodies)
                log.info("serving %s; registered webhook configurations %r", url, settings.name)
                yield Running(url, bundle.ca_cert, bodies)
            finally:
                with contextlib.suppress(_kube.KubeError, OSError):
                    await _configs.give_back(kube, bodies, saved)
                await runner.cleanup()


async def _in_cluster(settings: Settings, stop: asyncio.Event) -> None:
    async with _cluster_source(settings) as (kube, source):
        with tempfile.TemporaryDirectory(prefix="k8sclaw-webhook-") as workdir:
            tls: _tls.CertDirTls | _tls.SecretTls
            if _tls.CertDirTls.present(settings.cert_dir):
                tls = _tls.CertDirTls(settings.cert_dir)
            else:
                hosts = _certs.service_hosts(names.WEBHOOK_SERVICE, settings.namespace)
                tls = _tls.SecretTls(kube, settings.namespace, Path(workdir), hosts)
            await tls.refresh()
            host, port = settings.listen_address()
            runner = await _server.start(
                _server.build_app(Admission(source)), host, port, tls.context
            )
            refresher = asyncio.create_task(_tls.refresh_forever(tls))
            log.info("serving on %s:%d", host, port)
            await stop.wait()
            refresher.cancel()
            await runner.cleanup()


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if settings.dev_url:
        async with dev_webhook(settings):
            await stop.wait()
    else:
        await _in_cluster(settings, stop)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    settings = resolve(argv)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if settings.dev_url:
            settings.dev_address()
        elif not settings.kubeconfig and not os.environ.get("KUBERNETES_SERVICE_HOST"):
            raise ValueError(
                "not running in a cluster (KUBERNETES_SERVICE_HOST is unset); locally, "
                "run: k8sclaw-webhook --dev-url https://127.0.0.1:9443 --kubeconfig ~/.kube/config"
            )
        else:
            settings.listen_address()
        asyncio.run(_serve(settings))
    except ValueError as error:
        print(f"k8sclaw-webhook: {error}", file=sys.stderr)
        return 2
    except (OSError, _kube.KubeError, web.HTTPException) as error:
        print(f"k8sclaw-webhook: {error}", file=sys.stderr)
        return 1
    return 0
