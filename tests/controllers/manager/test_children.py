"""Pure builders and decisions of the reconcilers: channels, skills, tools, state, bus events."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from k8sclaw_controllers.manager import (
    Images,
    Settings,
    Tools,
    _buswatch,
    _channels,
    _instance,
    _skills,
)
from k8sclaw_controllers.manager._agentrun import effective_tools
from k8sclaw_controllers.manager._context import Context
from k8sclaw_controllers.manager._instance import keep_transition_times
from k8sclaw_controllers.manager._state import State
from k8sclaw_protocol import AgentRun, ClawInstance, ClawPolicy, SkillPack, _events, names
from tests.harness.kube import _podsecurity


def instance(**spec: Any) -> ClawInstance:
    return ClawInstance.from_wire(
        {
            "metadata": {"name": "alice", "namespace": "team", "uid": "i-1"},
            "spec": {"agents": {"default": {"model": "gpt-4o"}}, **spec},
        }
    )


def run(name: str, phase: str | None = None, instance_ref: str = "alice") -> AgentRun:
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "team", "uid": f"u-{name}"},
        "spec": {
            "instanceRef": instance_ref,
            "sessionKey": "s",
            "task": "t",
            "model": {"model": "m"},
        },
    }
    if phase:
        body["status"] = {"phase": phase}
    return AgentRun.from_wire(body)


def test_channel_deployment_is_named_owned_restricted_and_uses_the_secret() -> None:
    inst = instance(channels=[{"type": "telegram", "configRef": {"secret": "tg"}}])
    body = _channels.channel_deployment(inst, inst.spec.channels[0], "img:1", "nats://b", "7")
    assert body["metadata"]["name"] == "alice-channel-telegram"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "i-1"
    pod = body["spec"]["template"]["spec"]
    assert _podsecurity.violations("restricted", pod) == []
    container = pod["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "tg"}}]
    assert {"name": "CHANNEL_TYPE", "value": "telegram"} in container["env"]
    assert body["spec"]["selector"]["matchLabels"].items() <= (
        body["spec"]["template"]["metadata"]["labels"].items()
    )


def test_channel_deployment_runs_the_program_with_spec_env_and_a_readiness_probe() -> None:
    spec = {"type": "slack", "configRef": {"secret": "s"}, "allowedChats": ["C1", "C2"]}
    inst = instance(channels=[{**spec, "mode": "webhook"}])
    body = _channels.channel_deployment(inst, inst.spec.channels[0], "img", "nats://b", "7")
    container = body["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["slack"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["K8SCLAW_ALLOWED_CHATS"] == "C1,C2" and "K8SCLAW_ALLOWED_SENDERS" not in env
    assert (env["K8SCLAW_CHANNEL_MODE"], env["K8SCLAW_LISTEN_PORT"]) == ("webhook", "3000")
    probe = container["readinessProbe"]["httpGet"]
    assert probe == {"path": "/healthz", "port": "health"}
    assert {p["containerPort"] for p in container["ports"]} == {8080, 3000}


@pytest.mark.parametrize(
    ("channel", "webhook"),
    [
        ({"type": "telegram"}, False),
        ({"type": "telegram", "mode": "webhook"}, True),
        ({"type": "slack", "mode": "socket"}, False),
        ({"type": "whatsapp"}, True),
    ],
)
def test_only_webhook_channels_get_a_service_and_with_a_host_an_ingress(
    channel: dict[str, Any], webhook: bool
) -> None:
    inst = instance(channels=[{**channel, "configRef": {"secret": "s"}, "webhookHost": "h.io"}])
    spec = inst.spec.channels[0]
    assert _channels.needs_webhook(spec) is webhook
    assert (_channels.channel_ingress(inst, spec) is not None) is webhook
    policy = _channels.channel_network_policy(inst, spec)["spec"]
    inbound = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert inbound == ({8080, 3000} if webhook else {8080})
    outbound = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert outbound == {4222, 53, 443}


def test_channel_health_is_read_as_a_health_report() -> None:
    report = {"channel": "telegram", "state": "Error", "message": "unauthorized:\x1b[2J no"}
    health = _instance.health_of(report)
    assert health is not None
    assert (health["status"], health["message"]) == ("Error", "unauthorized:[2J no")
    assert _instance.health_of({"channel": "irc", "state": "Connected"}) is None
    assert _instance.health_of({"channel": "telegram", "connected": True}) is None


def test_channel_pods_get_their_instance_bus_user_as_a_file() -> None:
    from k8sclaw_controllers.manager import _buscreds
    from k8sclaw_protocol import BusKeys, busauth
    from k8sclaw_protocol._busjwt import decode_claims

    inst = instance(channels=[{"type": "telegram", "configRef": {"secret": "tg"}}])
    secret = _buscreds.channel_secret_for(inst, BusKeys.generate().account_seed, {"uid": "i-1"})
    assert secret["metadata"]["name"] == "alice-channel-bus-i-1"
    creds = base64.b64decode(secret["data"][busauth.BUS_CREDS_KEY]).decode()
    claims = decode_claims(creds.split("JWT-----\n")[1].split("\n")[0])
    assert claims["nats"]["pub"]["allow"][:2] == [
        "k8sclaw.channel.message.received.team.alice",
        "k8sclaw.channel.health.update.team.alice",
    ]
    name = secret["metadata"]["name"]
    body = _channels.channel_deployment(
        inst, inst.spec.channels[0], "img", "nats://b", "7", bus_creds_secret=name
    )
    pod = body["spec"]["template"]["spec"]
    assert _podsecurity.violations("restricted", pod) == []
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == name
    container = pod["containers"][0]
    assert {"name": busauth.ENV_BUS_CREDS_DIR, "value": busauth.BUS_CREDS_MOUNT} in container["env"]
    assert any(m["mountPath"] == busauth.BUS_CREDS_MOUNT for m in container["volumeMounts"])


def test_config_hash_changes_with_secret_name_and_version() -> None:
    inst = instance(channels=[{"type": "slack", "configRef": {"secret": "a"}}])
    other = instance(channels=[{"type": "slack", "configRef": {"secret": "b"}}])

    def digest(i: ClawInstance, version: str) -> str:
        body = _channels.channel_deployment(i, i.spec.channels[0], "img", "u", version)
        return str(body["metadata"]["annotations"][_channels.ANNOTATION_CONFIG_HASH])

    assert digest(inst, "1") == digest(inst, "1")
    assert len({digest(inst, "1"), digest(inst, "2"), digest(other, "1")}) == 3


def test_skill_configmap_has_one_markdown_key_per_skill() -> None:
    pack = SkillPack.from_wire(
        {
            "metadata": {"name": "ops", "namespace": "k8sclaw-system", "uid": "p"},
            "spec": {
                "skills": [
                    {"name": "kubectl", "description": "Use kubectl", "content": "Run it."},
                    {"name": "plain", "content": "Just text."},
                ]
            },
        }
    )
    mirrored = _skills.configmap(pack, "team", owned=False)
    assert mirrored["data"] == {
        "kubectl.md": "# kubectl\n\n> Use kubectl\n\nRun it.",
        "plain.md": "Just text.",
    }
    assert mirrored["metadata"]["namespace"] == "team"
    assert "ownerReferences" not in mirrored["metadata"]
    assert _skills.configmap(pack, "k8sclaw-system", owned=True)["metadata"]["ownerReferences"]


def policy(gating: dict[str, Any]) -> ClawPolicy:
    return ClawPolicy.from_wire({"metadata": {"name": "p"}, "spec": {"toolGating": gating}})


def test_policy_denies_add_to_the_run_deny_list() -> None:
    tools = effective_tools(
        Tools(("read_file",), ("fetch_url",)),
        policy(
            {"defaultAction": "allow", "rules": [{"tool": "execute_command", "action": "deny"}]}
        ),
    )
    assert tools == Tools(("read_file",), ("execute_command", "fetch_url"))


def test_tools_follow_the_shared_engine_ask_stays_offered_and_gated() -> None:
    """An `ask` tool is offered (the model may call it) and listed in `ask` (each call
    waits for a decision); it is never silently withheld."""
    gating = {
        "defaultAction": "deny",
        "rules": [{"tool": "read_file", "action": "allow"}, {"tool": "fetch_url", "action": "ask"}],
    }
    implicit = effective_tools(Tools(), policy(gating))
    assert implicit.allow == ("fetch_url", "read_file")
    assert implicit.ask == ("fetch_url",)
    assert "execute_command" in implicit.deny and "fetch_url" not in implicit.deny
    narrowed = effective_tools(Tools(("fetch_url", "execute_command")), policy(gating))
    assert (narrowed.allow, narrowed.ask) == (("fetch_url",), ("fetch_url",))
    denied = effective_tools(Tools(("execute_command",)), policy(gating))
    assert (denied.allow, denied.ask) == ((), ())
    assert effective_tools(Tools(("read_file",)), None) == Tools(("read_file",))


def test_an_empty_allow_list_stays_empty_through_the_policy() -> None:
    """`toolPolicy.allow: []` means no tools, never "every tool the policy allows"."""
    permissive = policy({"defaultAction": "allow"})
    assert effective_tools(Tools(()), permissive).allow == ()
    assert effective_tools(Tools(None), permissive).allow == tuple(sorted(names.TOOLS))
    assert effective_tools(Tools(()), None).allow == ()


def test_state_never_moves_a_phase_backwards() -> None:
    state = State()
    state.observe(run("r1", "Running"))
    state.observe(run("r1", "Succeeded"))
    record = state.observe(run("r1", "Running"))
    assert record.phase == "Succeeded"
    assert state.is_terminal(("team", "r1"))


def test_state_counts_running_and_orders_finished() -> None:
    state = State()
    for name, phase in [("a", "Running"), ("b", "Running"), ("c", "Failed"), ("d", "Succeeded")]:
        state.observe(run(name, phase))
    state.observe(run("x", "Running", instance_ref="bob"))
    assert state.running("team", "alice") == 2
    assert state.running("team", "alice", exclude="a") == 1
    assert [name for name, _ in state.finished("team", "alice")] == ["c", "d"]


def test_unchanged_conditions_keep_their_transition_time() -> None:
    old = [
        {
            "type": "Ready",
            "status": "True",
            "reason": "R",
            "message": "",
            "lastTransitionTime": "2020-01-01T00:00:00Z",
        }
    ]
    same = [{**old[0], "lastTransitionTime": "2030-01-01T00:00:00Z"}]
    changed = [{**same[0], "status": "False"}]
    assert keep_transition_times(old, same)[0]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert keep_transition_times(old, changed)[0]["lastTransitionTime"] == "2030-01-01T00:00:00Z"


@pytest.fixture
def ctx() -> Context:
    state = State()
    state.observe(run("r1", "Running"))
    state.observe(run("r2", "Running", instance_ref="bob"))
    return Context(kube=None, settings=Settings(images=Images()), state=state)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("subject", "metadata", "expected"),
    [
        ("k8sclaw.agent.run.completed.team.r1", {}, ("team", "r1")),
        # The payload's claims are never believed: the subject is what the server authorised.
        (
            "k8sclaw.agent.run.completed.team.r1",
            {"namespace": "x", "agentRunID": "r2"},
            ("team", "r1"),
        ),
        ("k8sclaw.agent.run.completed", {"agentRunID": "r1", "namespace": "team"}, None),
        ("k8sclaw.agent.run.completed.Team.r1", {}, None),
        (None, {"agentRunID": "r1", "namespace": "team"}, None),
    ],
    ids=["scoped", "forged-metadata", "unscoped", "malformed", "undelivered"],
)
def test_bus_events_are_located_by_their_subject(
    subject: str | None, metadata: dict[str, str], expected: tuple[str, str] | None
) -> None:
    event = _events.Event.new(_events.AGENT_RUN_COMPLETED, {}, metadata)
    if subject is not None:
        event.delivered(subject, 7)
    scope = _buswatch.scope_of(event)
    assert (None if scope is None else (scope.namespace, scope.name)) == expected


async def test_completions_for_unknown_runs_are_ignored(ctx: Context) -> None:
    """A completion for a run this manager does not know (another tenant's name in another
    namespace, or a forged one) never reaches the API (ctx.kube is None here)."""
    event = _events.Event.new(_events.AGENT_RUN_COMPLETED, {"status": "success"})
    await _buswatch.handle(ctx, event.delivered("k8sclaw.agent.run.completed.other.r1", 1))
    await _buswatch.handle(ctx, event.delivered("k8sclaw.agent.stream.chunk.team.r1", 2))


def test_bus_outcomes_are_validated() -> None:
    ok = _events.Event.new(
        _events.AGENT_RUN_COMPLETED,
        {"status": "success", "response": "hi __K8SCLAW_END__", "metrics": {"inputTokens": -3}},
    )
    outcome = _buswatch.outcome_of(ok)
    assert (outcome.succeeded, outcome.result) == (True, "hi ")
    assert outcome.token_usage is not None
    assert outcome.token_usage.input_tokens == 0
    failed = _buswatch.outcome_of(_events.Event.new(_events.AGENT_RUN_FAILED, "junk"))
    assert not failed.succeeded
    assert failed.error
