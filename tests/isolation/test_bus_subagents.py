"""A run's credentials cannot ask for a sub-agent or change memory as another run: the
server refuses the publish on the other run's subject (SPEC §17), so the controller never
sees a spawn request or memory update whose subject names a run other than the sender."""

from __future__ import annotations

import nats as nats_client
import pytest

from k8sclaw_protocol import busauth, events
from tests.harness.nats_fixtures import NatsServer
from tests.isolation.test_bus import Attacker


@pytest.mark.parametrize("topic", [events.AGENT_SPAWN_REQUEST, events.AGENT_MEMORY_UPDATE])
async def test_a_forged_request_on_another_runs_subject_is_refused(
    nats: NatsServer, topic: str
) -> None:
    creds = nats.run_creds("team-b", "intruder")
    inbox = busauth.scoped_inbox("run", "team-b", "intruder")
    attacker = await Attacker().connect(nats.url, creds, inbox)
    try:
        js = attacker.nc.jetstream()
        forged = events.scoped_subject(topic, "team-a", "victim")
        with pytest.raises(nats_client.errors.TimeoutError):
            await js.publish(forged, b'{"topic":"x","data":{"task":"leak"}}', timeout=2)
        assert await attacker.refused(forged)
        own = events.scoped_subject(topic, "team-b", "intruder")
        assert own in busauth.run_permissions("team-b", "intruder", "uid-1").publish
    finally:
        await attacker.nc.close()
