"""Issue #13 item 12: a NATS outage is visible and never silent.

The controller's /readyz reports the lost bus (and comes back with it); a run that ends
while the bus is down completes from the pod (the agent's log marker) with an `EventBus`
condition naming the outage instead of waiting for its timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from k8sclaw_controllers.manager import _pods
from k8sclaw_controllers.manager._context import BusState, Context
from k8sclaw_controllers.manager._settings import Images, Settings
from k8sclaw_controllers.manager._state import State
from tests.controllers.manager import _harness
from tests.controllers.manager._harness import create, phase, run_body, wait_run
from tests.controllers.manager.test_end_to_end import setup_instance, terminal
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, text
from tests.harness.nats_fixtures import NatsServer


def _pod(bridge_exit: int | None) -> dict[str, Any]:
    bridge: dict[str, Any] = {"name": "ipc-bridge", "state": {"running": {}}}
    if bridge_exit is not None:
        bridge["state"] = {"terminated": {"exitCode": bridge_exit}}
    agent = {"name": "agent", "state": {"terminated": {"exitCode": 0}}}
    return {"status": {"containerStatuses": [agent, bridge]}}


@pytest.mark.parametrize(
    ("bridge_exit", "connected", "named"),
    [(None, True, None), (0, True, None), (4, True, "ipc-bridge"), (None, False, "unreachable")],
    ids=["bridge-running", "bridge-done", "bridge-gave-up", "controller-cut-off"],
)
def test_bus_problem_names_the_outage(
    bridge_exit: int | None, connected: bool, named: str | None
) -> None:
    state = BusState(enabled=True, connected=lambda: connected, problem="the bus is unreachable")
    ctx = Context(kube=None, settings=Settings(images=Images()), state=State(), bus_state=state)  # type: ignore[arg-type]
    problem = _pods.bus_problem(ctx, _pod(bridge_exit))
    assert (problem is None) == (named is None)
    if named:
        assert problem is not None and named in problem


async def _readyz(client: httpx.AsyncClient, status: int) -> str:
    async with asyncio.timeout(60):
        while True:
            response = await client.get("/readyz")
            if response.status_code == status:
                return response.text
            await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_a_run_ending_during_an_outage_completes_from_the_pod_naming_it(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: NatsServer
) -> None:
    model = setup_instance(kube, llm)
    llm.script(text("finished while the bus was down"))
    port = _harness.free_port()
    settings = _harness.settings_for(kube, metrics_port=port, **nats.controller_settings())
    async with (
        _harness.running(settings),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        await _readyz(client, 200)
        await asyncio.to_thread(nats.stop)
        assert "event bus" in await _readyz(client, 503)
        create(kube, "agentruns", run_body("outage", model=model, cleanup="keep"))
        run = await wait_run(kube, "outage", terminal, within=180)
        await asyncio.to_thread(nats.start)
        await _readyz(client, 200)
    assert phase(run) == "Succeeded", (run["status"].get("error"), run["status"]["conditions"])
    assert run["status"]["result"] == "finished while the bus was down"
    bus = next(c for c in run["status"]["conditions"] if c["type"] == "EventBus")
    assert (bus["status"], bus["reason"]) == ("False", "BusUnavailable")
    assert "event bus" in bus["message"]


def test_a_missing_signing_seed_keeps_the_manager_unready(tmp_path: Any) -> None:
    from k8sclaw_controllers.manager import _buswatch

    missing = str(tmp_path / "account.seed")
    settings = Settings(
        images=Images(), event_bus_url="nats://bus:4222", bus_signing_seed_file=missing
    )
    ctx = Context(kube=None, settings=settings, state=State())  # type: ignore[arg-type]
    _buswatch.prepare(ctx)
    assert ctx.bus_seed is None and not ctx.job_options.bus_credentials
    assert missing in (ctx.bus_state.not_ready() or "")
    (tmp_path / "account.seed").write_text("not a seed")
    _buswatch.prepare(ctx)
    assert ctx.bus_seed is None and "account nkey seed" in (ctx.bus_state.not_ready() or "")
    off = Context(kube=None, settings=Settings(images=Images(), event_bus_url=""), state=State())  # type: ignore[arg-type]
    _buswatch.prepare(off)
    assert off.bus_state.not_ready() is None  # the bus is off: nothing to be unready about
