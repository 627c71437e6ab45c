"""A run cannot approve its own calls nor read anyone's decisions: nats-server refuses a
run's credentials (minted by the controller's code) every approval response publish, and
any consumer of approval responses but its own."""

from __future__ import annotations

import nats as nats_client
import pytest
from nats.js import api

from k8sclaw_protocol import AgentRun, EventBus, busauth, events
from tests.harness.nats_fixtures import NatsServer
from tests.isolation.test_bus import Attacker, tenant_b

__all__ = ["tenant_b"]  # fixture used here


async def test_a_run_cannot_publish_a_decision_even_for_itself(
    nats: NatsServer, tenant_b: tuple[Attacker, AgentRun]
) -> None:
    attacker, run_b = tenant_b
    js = attacker.nc.jetstream()
    body = b'{"topic":"tool.approval.response","data":{"id":"a1","decision":"approve"}}'
    for namespace, run in ((run_b.namespace, run_b.name), ("tenant-a", "run-a")):
        subject = events.scoped_subject(events.TOOL_APPROVAL_RESPONSE, namespace, run)
        with pytest.raises(nats_client.errors.TimeoutError):
            await js.publish(subject, body, timeout=2)
        assert await attacker.refused(subject)


async def test_a_run_consumes_only_its_own_approval_responses(
    nats: NatsServer, tenant_b: tuple[Attacker, AgentRun]
) -> None:
    attacker, run_b = tenant_b
    control = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"))
    await control.close()  # the stream exists, as the controller makes it
    js = attacker.nc.jetstream()
    own = busauth.consumer_name(
        events.TOOL_APPROVAL_RESPONSE, run_b.namespace, run_b.name, run_b.metadata.uid or ""
    )
    theirs = events.scoped_subject(events.TOOL_APPROVAL_RESPONSE, "tenant-a", "run-a")
    config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL)
    with pytest.raises(nats_client.errors.TimeoutError):
        await js.pull_subscribe(theirs, durable=own, stream=events.STREAM_NAME, config=config)
    assert await attacker.refused(f"$js.api.consumer.create.k8sclaw.{own}.{theirs}")
    mine = events.scoped_subject(events.TOOL_APPROVAL_RESPONSE, run_b.namespace, run_b.name)
    sub = await js.pull_subscribe(mine, durable=own, stream=events.STREAM_NAME, config=config)
    await sub.unsubscribe()
