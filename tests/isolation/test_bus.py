"""Tenant isolation on the event bus (issue #13 item 1, SPEC §17): tenant B's bridge
credentials, minted by the controller's own code for B's run, try to reach tenant A's run.

Every attempt is refused by nats-server itself (the shipped authorization, generated from
`k8sclaw_protocol.busauth`), and tenant A's run, driven by the real controller, the process
kubelet and the scripted LLM, still succeeds with its own result.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats as nats_client
import pytest
from nats.js import api

from k8sclaw_controllers.manager import _buscreds
from k8sclaw_protocol import AgentRun, Event, EventBus, busauth, events
from tests.controllers.manager import _harness
from tests.controllers.manager._harness import create, phase, run_body, wait_run
from tests.controllers.manager.test_end_to_end import setup_instance, terminal
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, text
from tests.harness.nats_fixtures import NatsServer

REFUSAL_WAIT = 10.0


class Attacker:
    """A raw nats-py client holding tenant B's run credentials; records what the server
    refused (permission violations arrive asynchronously on the error callback)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: Any = None
        self._new_error = asyncio.Condition()

    async def connect(self, url: str, creds: Path, inbox: str) -> Attacker:
        async def on_error(exc: Exception) -> None:
            async with self._new_error:
                self.errors.append(str(exc).lower())
                self._new_error.notify_all()

        self.nc = await nats_client.connect(
            url, user_credentials=str(creds), inbox_prefix=inbox, error_cb=on_error
        )
        return self

    async def refused(self, subject: str) -> bool:
        """True once the server reported a permissions violation naming `subject`."""
        needle = subject.lower()
        async with asyncio.timeout(REFUSAL_WAIT), self._new_error:
            await self._new_error.wait_for(
                lambda: any("permissions violation" in e and needle in e for e in self.errors)
            )
        return True


def _run(namespace: str, name: str) -> AgentRun:
    return AgentRun.from_wire(
        {
            "apiVersion": "k8sclaw.io/v1alpha1",
            "kind": "AgentRun",
            "metadata": {"name": name, "namespace": namespace, "uid": secrets.token_hex(8)},
            "spec": {
                "instanceRef": "alice",
                "task": "t",
                "sessionKey": "s",
                "model": {"provider": "openai", "model": "m"},
            },
        }
    )


def minted_creds(tmp_path: Path, seed: str, run: AgentRun) -> Path:
    """The creds the controller puts in the run's Secret, as the bridge would read them."""
    secret = _buscreds.secret_for(run, seed, 600)
    path = tmp_path / f"{run.namespace}-{run.name}.creds"
    path.write_bytes(base64.b64decode(secret["data"][busauth.BUS_CREDS_KEY]))
    return path


@pytest.fixture
async def tenant_b(nats: NatsServer, tmp_path: Path) -> AsyncIterator[tuple[Attacker, AgentRun]]:
    run_b = _run(f"t-{secrets.token_hex(4)}-b", "intruder")
    creds = minted_creds(tmp_path, nats.keys.account_seed, run_b)
    inbox = busauth.scoped_inbox("run", run_b.namespace, run_b.name)
    attacker = await Attacker().connect(nats.url, creds, inbox)
    try:
        yield attacker, run_b
    finally:
        await attacker.nc.close()


async def _control(nats: NatsServer) -> EventBus:
    return await EventBus.connect(nats.url, credentials=nats.creds_for("controller"))


async def test_b_cannot_publish_a_completion_or_an_exec_result_for_a(
    nats: NatsServer, tenant_b: tuple[Attacker, AgentRun]
) -> None:
    attacker, _ = tenant_b
    control = await _control(nats)
    try:
        js = attacker.nc.jetstream()
        for topic in (events.AGENT_RUN_COMPLETED, events.TOOL_EXEC_RESULT, events.AGENT_FOLLOWUP):
            subject = events.scoped_subject(topic, "tenant-a", "run-a")
            with pytest.raises(nats_client.errors.TimeoutError):
                await js.publish(subject, b'{"topic":"x","data":{"status":"success"}}', timeout=2)
            assert await attacker.refused(subject)
        info = await control._js.stream_info(events.STREAM_NAME)
        assert info.state.messages == 0  # nothing of B's reached the stream
    finally:
        await control.close()


async def test_b_cannot_read_the_stream_or_a_followups(
    nats: NatsServer, tenant_b: tuple[Attacker, AgentRun]
) -> None:
    attacker, run_b = tenant_b
    control = await _control(nats)
    try:
        followup = Event.new(events.AGENT_FOLLOWUP, {"text": "secret for A"})
        await control.publish(followup, scope=("tenant-a", "run-a"))
        await attacker.nc.subscribe("k8sclaw.>")
        assert await attacker.refused("k8sclaw.>")
        a_followups = events.scoped_subject(events.AGENT_FOLLOWUP, "tenant-a", "run-a")
        await attacker.nc.subscribe(a_followups)
        assert await attacker.refused(a_followups)
        js = attacker.nc.jetstream()
        # B's own consumer name with A's filter, an ephemeral one on everything, and A's own
        # consumer name: every create is refused before JetStream sees it.
        own = busauth.consumer_name(
            events.AGENT_FOLLOWUP, run_b.namespace, run_b.name, run_b.metadata.uid or ""
        )
        for durable, filter_subject in ((own, a_followups), (None, "k8sclaw.>")):
            config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL)
            with pytest.raises(nats_client.errors.TimeoutError):
                await js.pull_subscribe(
                    filter_subject, durable=durable, stream=events.STREAM_NAME, config=config
                )
        assert await attacker.refused(f"$js.api.consumer.create.k8sclaw.{own}.{a_followups}")
        assert await attacker.refused("k8sclaw.>")
        a_consumer = busauth.consumer_name(events.AGENT_FOLLOWUP, "tenant-a", "run-a", "uid-a")
        for request in (
            f"$JS.API.CONSUMER.MSG.NEXT.k8sclaw.{a_consumer}",
            f"$JS.API.CONSUMER.INFO.k8sclaw.{a_consumer}",
            f"$JS.API.STREAM.INFO.{events.STREAM_NAME}",
        ):
            with pytest.raises(nats_client.errors.TimeoutError):
                await attacker.nc.request(request, b"", timeout=2)
            assert await attacker.refused(request)
    finally:
        await control.close()


async def test_anonymous_clients_are_refused(nats: NatsServer) -> None:
    assert await asyncio.to_thread(nats.anonymous_reply) == "-ERR 'Authorization Violation'"


@pytest.mark.slow
async def test_a_run_of_tenant_a_succeeds_while_b_attacks(
    kube: KubeEnv,
    kubelet: Any,
    llm: ScriptedLLM,
    nats: NatsServer,
    tenant_b: tuple[Attacker, AgentRun],
) -> None:
    attacker, _ = tenant_b
    model = setup_instance(kube, llm)
    llm.script(text("A's own answer", input_tokens=5, output_tokens=2))
    async with _harness.running(_harness.settings_for(kube, **nats.controller_settings())):
        create(kube, "agentruns", run_body("victim", model=model, cleanup="keep"))
        forged = Event.new(
            events.AGENT_RUN_COMPLETED,
            {"status": "success", "response": "forged by B", "metrics": {"inputTokens": 10**9}},
            {events.META_AGENT_RUN_ID: "victim", events.META_NAMESPACE: kube.namespace},
        )
        subject = events.scoped_subject(events.AGENT_RUN_COMPLETED, kube.namespace, "victim")
        await attacker.nc.publish(subject, forged.to_bytes())
        assert await attacker.refused(subject)
        run = await wait_run(kube, "victim", terminal, within=180)
    assert phase(run) == "Succeeded", run["status"]
    assert run["status"]["result"] == "A's own answer"
    assert run["status"]["tokenUsage"]["inputTokens"] == 5
