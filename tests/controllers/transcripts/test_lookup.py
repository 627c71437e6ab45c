"""Where a run sits comes from its AgentRun (label, spec), cached; a gone run is unknown
for a short while only, so a run created under a recycled name is looked up again."""

from __future__ import annotations

import secrets

from k8sclaw_controllers import transcripts
from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv
from tests.policy._builders import run_body


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_instance_comes_from_the_label_before_the_spec() -> None:
    body = run_body("r", "ns", sessionKey="chat-1", task="t\x00x")
    assert transcripts.run_info(body) == transcripts.RunInfo("alpha", "chat-1", "tx")
    body["metadata"]["labels"] = {names.LABEL_INSTANCE: "labelled"}
    body["metadata"]["uid"] = "u-1"
    assert transcripts.run_info(body) == transcripts.RunInfo("labelled", "chat-1", "tx", "u-1")


async def test_lookups_are_cached_and_gone_runs_are_retried_later(kube: KubeEnv) -> None:
    ns, name = kube.namespace, f"run-{secrets.token_hex(3)}"
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    clock = Clock()
    lookup = transcripts.KubeRunLookup(client, gone_ttl=30, clock=clock, size=1)
    try:
        assert await lookup(ns, name) == transcripts.RunInfo("", "", "")
        await client.create(_kube.claw(ns, "agentruns"), run_body(name, ns, sessionKey="s-9"))
        assert await lookup(ns, name) == transcripts.RunInfo("", "", "")  # still cached
        clock.now = 31
        found = await lookup(ns, name)
        assert (found.instance, found.session_key, found.task) == (
            "alpha",
            "s-9",
            "summarise the logs",
        )
        assert found.uid
        assert await lookup(ns, name) == found
        assert lookup.requests == 2
        await lookup(ns, "other")  # evicts the first entry (size 1)
        await lookup(ns, name)
        assert lookup.requests == 4
    finally:
        await client.close()
