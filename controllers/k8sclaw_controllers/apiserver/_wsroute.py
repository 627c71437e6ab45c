"""The `/ws/stream` endpoint: authenticate, authorize the subscription, then `_stream.serve`.

Refusals happen before the WebSocket is accepted, as an HTTP response in the one error
shape (401, 403, 400, 503), so a client sees why. With a namespace the caller needs
`watch agentruns` there (on the run's name when `run` is given); without one, either
cluster-wide or in at least one namespace, and each frame is then checked per namespace.
"""

from __future__ import annotations

import asyncio

from starlette.websockets import WebSocket

from k8sclaw_controllers.apiserver import _errors
from k8sclaw_controllers.apiserver._auth import Access, Caller
from k8sclaw_controllers.apiserver._deps import Deps, valid_label
from k8sclaw_controllers.apiserver._errors import ApiError
from k8sclaw_controllers.apiserver._kinds import RUNS
from k8sclaw_controllers.apiserver._stream import Client, Filter, Item, serve

MAX_SESSION_KEY = 253


def _filter(ws: WebSocket) -> Filter:
    query = ws.query_params
    values = {k: query.get(k) or None for k in ("namespace", "instance", "run", "session")}
    for key in ("namespace", "instance", "run"):
        value = values[key]
        if value is not None and not valid_label(value):
            raise ApiError(400, f"{key}: {value!r} is not a DNS-1123 label")
    session = values["session"]
    if session is not None and len(session) > MAX_SESSION_KEY:
        raise ApiError(400, "session: too long")
    return Filter(**values)


async def _authorize(deps: Deps, caller: Caller, flt: Filter) -> None:
    if flt.namespace:
        access = Access("watch", RUNS.plural, flt.namespace, flt.run or "")
        await deps.authz.require(caller, access)
        return
    if flt.run:
        raise ApiError(400, "run: give the namespace of the run too")
    visible = await deps.visible_namespaces(caller, "watch", RUNS.plural)
    if visible is not None and not visible:
        await deps.authz.require(caller, Access("watch", RUNS.plural))


async def stream(ws: WebSocket) -> None:
    deps: Deps = ws.app.state.deps
    try:
        caller = await deps.authn.authenticate(ws.headers.get("authorization"))
        flt = _filter(ws)
        await _authorize(deps, caller, flt)
        if deps.hub is None:
            raise ApiError(503, "no event bus is configured on this API server (EVENT_BUS_URL)")
    except ApiError as exc:
        await ws.send_denial_response(_errors.response(exc.code, exc.message, exc.reason))
        return
    await ws.accept()
    queue: asyncio.Queue[Item] = asyncio.Queue(deps.hub.queue_size)
    await serve(deps.hub, Client(ws, caller, flt, queue))
