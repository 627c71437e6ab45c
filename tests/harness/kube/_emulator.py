"""`KubeEmulator`: the API server on a background thread, bound to 127.0.0.1.

The HTTP server (`_server`), the store and the in-process controllers all live on one event
loop in one daemon thread; tests talk to it over HTTP like to any API server, and use
the few emulator-only helpers here (`compact`, `objects`, `recording`) through `call`, which runs a
function on the loop thread so the store is never touched from two threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tests.harness.kube import (
    _aggregator,
    _audit,
    _authn,
    _http,
    _kubeconfig,
    _pki,
    _pods,
    _server,
)
from tests.harness.kube._cluster import Cluster
from tests.harness.kube._controller import ClientRateLimit, Controller
from tests.harness.kube._crds import CrdController
from tests.harness.kube._gc import GarbageCollector
from tests.harness.kube._namespaces import FILL_DELAY, NamespaceController
from tests.harness.kube._store import Obj

T = TypeVar("T")
_SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CONTROLLER_QPS, CONTROLLER_BURST = 20.0, 30
"""kube-controller-manager's --kube-api-qps / --kube-api-burst defaults: the writes of the
Job, namespace and garbage-collector controllers are paced by them (one shared
`_controller.ClientRateLimit`)."""


class KubeEmulator:
    """Start with `start()`, stop with `stop()`; `url` is the API server address."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        controller_qps: float = CONTROLLER_QPS,
        controller_burst: int = CONTROLLER_BURST,
        namespace_fill_delay: float = FILL_DELAY,
    ) -> None:
        self.host, self.port = host, port
        self.controller_qps, self.controller_burst = controller_qps, controller_burst
        self.namespace_fill_delay = namespace_fill_delay
        self.limit = ClientRateLimit(controller_qps, controller_burst)
        self.cluster = Cluster()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kube-emulator", daemon=True
        )
        self._server: _server.Server | None = None
        self._tls_server: _server.Server | None = None
        self.tls_port = 0
        self.pki: _pki.Pki | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.extra_handlers: dict[str, _http.Handler] = {}
        self._router: _http.Router | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        """The TLS listener (same API; client certificates signed by `pki` authenticate)."""
        return f"https://{self.host}:{self.tls_port}"

    def start(self) -> KubeEmulator:
        self._thread.start()
        self._submit(self._start()).result(timeout=30)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._submit(self._stop()).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _submit(self, coro: Any) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the emulator's loop thread and return its result."""

        async def run() -> T:
            return fn()

        result: T = self._submit(run()).result(timeout=30)
        return result

    async def _start(self) -> None:
        self._stopping = asyncio.Event()
        controllers: list[Controller] = [
            CrdController(self.cluster),
            GarbageCollector(self.cluster, self.limit),
            NamespaceController(self.cluster, self.limit, self.namespace_fill_delay),
        ]
        controllers.extend(factory(self.cluster) for factory in self.controller_factories())
        self._tasks = [asyncio.create_task(c.run()) for c in controllers]
        auth = _authn.AuthApis(self.cluster)
        handlers = {
            **_pods.PodSubresources(self.cluster).handlers(),
            **auth.handlers(),
            **self.extra_handlers,
        }
        router = self._router = _http.Router(self.cluster, self._stopping, handlers)
        router.identify = auth.identify
        pki = self.pki = _pki.Pki.create()
        routes = self.cluster.admission.webhooks.service_routes
        router.aggregator = _aggregator.Aggregator(self.cluster, pki, auth, routes)
        self._server = _server.Server(router.handle)
        self.port = await self._server.start(self.host, self.port)
        self._tls_server = _server.Server(router.handle)
        self.tls_port = await self._tls_server.start(self.host, 0, tls=pki.server_context())
        ns_type = self.cluster.registry.find("", "v1", "namespaces")
        assert ns_type is not None
        for name in _SYSTEM_NAMESPACES:
            await self.cluster.create(ns_type, "", {"metadata": {"name": name}})
        cm_type = self.cluster.registry.find("", "v1", "configmaps")
        assert cm_type is not None
        await self.cluster.create(cm_type, "kube-system", _aggregator.trust_configmap(pki))

    def controller_factories(self) -> list[Callable[[Cluster], Controller]]:
        """Extra controllers: the Job controller, paced like kube-controller-manager's client
        (the one limit all the emulator's controllers share)."""
        from tests.harness.kube import _jobs

        def jobs(cluster: Cluster) -> Controller:
            return _jobs.JobController(cluster, self.limit)

        return [jobs]

    async def _stop(self) -> None:
        assert self._stopping is not None
        self._stopping.set()
        for server in (self._server, self._tls_server):
            if server is not None:
                await server.close(grace=1.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.cluster.admission.close()

    # -- emulator-only helpers --------------------------------------------------------
    @contextlib.contextmanager
    def recording(self) -> Iterator[list[_audit.Access]]:
        """Log every resource request while the block runs (RBAC's view of each: verb,
        group, resource, namespace); the list fills as requests arrive."""
        router = self._router
        assert router is not None, "the emulator is not running"
        log: list[_audit.Access] = []
        self.call(lambda: setattr(router, "audit", log))
        try:
            yield log
        finally:
            self.call(lambda: setattr(router, "audit", None))

    @contextlib.contextmanager
    def forbidding(self, deny: Callable[[_audit.Access], bool]) -> Iterator[None]:
        """Answer 403 Forbidden, as RBAC would, to requests `deny` picks (the emulator
        authorises everyone otherwise: it has no RBAC of its own)."""
        router = self._router
        assert router is not None, "the emulator is not running"
        self.call(lambda: setattr(router, "deny", deny))
        try:
            yield
        finally:
            self.call(lambda: setattr(router, "deny", None))

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        return _kubeconfig.write_kubeconfig(path, self.url, namespace)

    def write_cert_kubeconfig(
        self, path: Path, user: str, groups: tuple[str, ...] = (), namespace: str = "default"
    ) -> Path:
        """A kubeconfig for a certificate user (CN `user`, O `groups`) on the TLS listener,
        as kind/kubeadm write for their admin: no token at all."""
        assert self.pki is not None, "the emulator is not running"
        cert, key = _pki.client_cert(self.pki.ca_cert, self.pki.ca_key, user, groups)
        return _kubeconfig.write_cert_kubeconfig(
            path, self.tls_url, self.pki.ca_cert, cert, key, namespace=namespace
        )

    def route_service(self, namespace: str, name: str, host: str, port: int) -> None:
        """Send webhook and aggregated-API calls for Service `namespace/name` to `host:port`
        (no cluster network here).

        The certificate is still verified for `<name>.<namespace>.svc`, as a real API server would.
        """

        def route() -> None:
            self.cluster.admission.webhooks.service_routes[(namespace, name)] = (host, port)

        self.call(route)

    def compact(self) -> None:
        """Drop the watch history: older resourceVersions now answer 410 Gone."""
        self.call(self.cluster.store.compact)

    def objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[Obj]:
        """Stored objects of one kind (a snapshot), for assertions on emulator internals."""

        def read() -> list[Obj]:
            rtype = self.cluster.registry.by_kind(api_version, kind)
            return [] if rtype is None else self.cluster.list(rtype, namespace)

        return self.call(read)
