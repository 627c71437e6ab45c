"""The HTTPS server: AdmissionReview endpoints plus /healthz and /readyz (aiohttp).

Why a small aiohttp app and not an operator framework's admission support (kopf's):
those are tied to the operator's run loop, register their own configuration names and
generate self-signed certificates through optional packages, while we need fixed paths
that the installer ships, failurePolicy Fail, a CA kept in a Secret with rotation, and
per-path control. aiohttp is already the manager's HTTP client and server.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from k8sclaw_controllers.policy import Decision
from k8sclaw_controllers.webhook import _review
from k8sclaw_controllers.webhook._admission import Admission
from k8sclaw_controllers.webhook._source import SourceError
from k8sclaw_protocol import names

log = logging.getLogger("k8sclaw.webhook")
Judge = Callable[[_review.AdmissionRequest], Awaitable[Decision]]
# An AdmissionReview carries object and oldObject, each up to etcd's 1.5 MiB limit.
MAX_BODY = 4 * 1024 * 1024


def _endpoint(judge: Judge, *, mutate: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        try:
            review = _review.parse(await request.json(loads=json.loads))
        except (ValueError, _review.ReviewError) as error:
            return web.json_response({"error": f"bad AdmissionReview: {error}"}, status=400)
        try:
            decision = await judge(review)
        except SourceError as error:
            log.warning("fail closed on %s %s: %s", review.operation, request.path, error)
            body = _review.error_response(review.uid, 500, f"K8sClaw admission: {error}; retry")
            return web.json_response(body)
        except Exception:
            log.exception("admission handler crashed on %s", request.path)
            message = "K8sClaw admission: internal error judging this object; see webhook logs"
            return web.json_response(_review.error_response(review.uid, 500, message))
        if not decision.allowed:
            log.info(
                "denied %s %s/%s: %s",
                review.operation,
                review.namespace,
                review.kind,
                decision.message,
            )
        return web.json_response(_review.respond(review.uid, decision, mutate=mutate))

    return handle


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app(admission: Admission, ready: Callable[[], bool] = lambda: True) -> web.Application:
    """The webhook application with its seven routes."""

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ok") if ready() else web.Response(text="not ready", status=503)

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(
        names.WEBHOOK_PATH_VALIDATE_AGENTRUN, _endpoint(admission.validate_run, mutate=False)
    )
    app.router.add_post(
        names.WEBHOOK_PATH_MUTATE_AGENTRUN, _endpoint(admission.mutate_run, mutate=True)
    )
    app.router.add_post(
        names.WEBHOOK_PATH_VALIDATE_POLICY, _endpoint(admission.validate_policy, mutate=False)
    )
    app.router.add_post(
        names.WEBHOOK_PATH_VALIDATE_SKILLPACK, _endpoint(admission.validate_skillpack, mutate=False)
    )
    app.router.add_post(
        names.WEBHOOK_PATH_VALIDATE_INSTANCE, _endpoint(admission.validate_instance, mutate=False)
    )
    app.router.add_get("/healthz", _ok)
    app.router.add_get("/readyz", readyz)
    return app


async def start(
    app: web.Application, host: str, port: int, context: ssl.SSLContext
) -> web.AppRunner:
    """Serve `app` over HTTPS on host:port; the caller awaits `runner.cleanup()`."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True)
    await site.start()
    return runner
