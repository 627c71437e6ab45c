"""The pure AgentRun -> Job builder: names, owner, deadlines, security, labels, env, volumes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from k8sclaw_controllers.manager import Images, JobOptions, Tools, build_job
from k8sclaw_controllers.manager._jobbuilder import tools_from_spec
from k8sclaw_protocol import AgentRun, names
from tests.harness.kube import _podsecurity

OPTIONS = JobOptions(images=Images(), event_bus_url="nats://bus:4222", ttl_seconds=120)


def make_run(**spec: Any) -> AgentRun:
    body = {
        "metadata": {"name": "run-1", "namespace": "team", "uid": "uid-1"},
        "spec": {
            "instanceRef": "alice",
            "sessionKey": "s-1",
            "task": "say hi",
            "model": {"provider": "openai", "model": "gpt-4o"},
            **spec,
        },
    }
    return AgentRun.from_wire(body)


def containers(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in job["spec"]["template"]["spec"]["containers"]}


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def env_from_fields(container: dict[str, Any]) -> dict[str, str]:
    """Env vars set from the downward API: name -> fieldPath."""
    return {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in container["env"]
        if "fieldRef" in e.get("valueFrom", {})
    }


def test_job_has_the_run_name_namespace_and_controller_owner() -> None:
    job = build_job(make_run(), OPTIONS)
    meta = job["metadata"]
    assert (meta["name"], meta["namespace"]) == ("run-1", "team")
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "k8sclaw.io/v1alpha1",
            "kind": "AgentRun",
            "name": "run-1",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


@pytest.mark.parametrize(
    ("timeout", "deadline"),
    [("90s", 150), ("10m", 660), ("1h30m", 5460), ("1.5s", 62)],
    ids=["90s", "10m", "1h30m", "frac"],
)
def test_deadline_is_timeout_plus_a_minute(timeout: str, deadline: int) -> None:
    spec = build_job(make_run(timeout=timeout), OPTIONS)["spec"]
    assert spec["activeDeadlineSeconds"] == deadline
    assert spec["backoffLimit"] == 0
    assert spec["ttlSecondsAfterFinished"] == 120


def test_unset_timeout_uses_the_manager_default() -> None:
    options = JobOptions(images=Images(), event_bus_url="x", default_timeout_seconds=30)
    assert build_job(make_run(), options)["spec"]["activeDeadlineSeconds"] == 90


@pytest.mark.parametrize("sandbox", [None, {"enabled": True}], ids=["plain", "sandbox"])
def test_pod_passes_the_restricted_pod_security_standard(sandbox: dict[str, Any] | None) -> None:
    run = make_run(sandbox=sandbox) if sandbox else make_run()
    pod = build_job(run, OPTIONS)["spec"]["template"]["spec"]
    assert _podsecurity.violations("restricted", pod) == []
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "k8sclaw-agent"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for container in pod["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["limits"]


def test_sandbox_cannot_weaken_its_security_context() -> None:
    run = make_run(
        sandbox={
            "enabled": True,
            "securityContext": {"readOnlyRootFilesystem": False, "runAsNonRoot": False},
        }
    )
    sandbox = containers(build_job(run, OPTIONS))["sandbox"]
    assert sandbox["securityContext"]["readOnlyRootFilesystem"] is True
    assert sandbox["securityContext"]["runAsNonRoot"] is True


def test_restricted_checker_catches_a_weak_pod() -> None:
    pod = build_job(make_run(), OPTIONS)["spec"]["template"]["spec"]
    pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    found = _podsecurity.violations("restricted", pod)
    assert len(found) == 3  # hostPath breaks a baseline and a restricted check
    assert found[0].startswith("allowPrivilegeEscalation != false")
    assert all('volume "host"' in f for f in found[1:])


def test_labels_on_job_and_pod_template() -> None:
    job = build_job(make_run(), OPTIONS)
    expected = {
        "k8sclaw.io/role": "agent",
        "k8sclaw.io/agent-run": "run-1",
        "k8sclaw.io/instance": "alice",
        "k8sclaw.io/component": "agent-run",
        "app.kubernetes.io/managed-by": "k8sclaw",
    }
    assert job["spec"]["template"]["metadata"]["labels"] == expected
    assert job["metadata"]["labels"] == expected


def test_sandbox_adds_a_container_and_the_sandbox_label() -> None:
    job = build_job(make_run(sandbox={"enabled": True, "image": "my/sandbox:1"}), OPTIONS)
    assert job["spec"]["template"]["metadata"]["labels"]["k8sclaw.io/sandbox"] == "true"
    sandbox = containers(job)["sandbox"]
    assert sandbox["image"] == "my/sandbox:1"
    assert env(sandbox) == {
        "K8SCLAW_SANDBOX_IPC_DIR": "/ipc-sandbox",
        "K8SCLAW_WORKSPACE_DIR": "/workspace",
        "K8SCLAW_TMP_DIR": "/tmp",
    }


def test_the_sandbox_cannot_reach_the_volume_the_bridge_publishes_from() -> None:
    """#13 item 3: exec requests/results go through `ipc-sandbox`, shared by agent and
    sandbox only; `ipc` (what the bridge publishes) is not mounted in the sandbox."""
    job = build_job(make_run(sandbox={"enabled": True}), OPTIONS)
    mounts = {
        name: {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        for name, c in containers(job).items()
    }
    assert mounts["sandbox"] == {
        "workspace": "/workspace",
        "ipc-sandbox": "/ipc-sandbox",
        "tmp": "/tmp",
    }
    assert mounts["agent"]["ipc-sandbox"] == "/ipc-sandbox"
    assert env(containers(job)["agent"])["K8SCLAW_SANDBOX_IPC_DIR"] == "/ipc-sandbox"
    assert "ipc-sandbox" not in mounts["ipc-bridge"]
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["ipc-sandbox"]["emptyDir"]["medium"] == "Memory"
    plain = build_job(make_run(), OPTIONS)
    assert "ipc-sandbox" not in {v["name"] for v in plain["spec"]["template"]["spec"]["volumes"]}


def test_the_bridge_gets_the_tool_policy_the_agent_gets() -> None:
    job = build_job(make_run(), OPTIONS, Tools(("read_file",), ("execute_command",)))
    agent, bridge = containers(job)["agent"], containers(job)["ipc-bridge"]
    for key in ("TOOLS_ALLOW", "TOOLS_DENY"):
        assert env(bridge)[key] == env(agent)[key]
    assert env(bridge)["TOOLS_DENY"] == "execute_command"


def test_disabled_sandbox_adds_nothing() -> None:
    job = build_job(make_run(sandbox={"enabled": False}), OPTIONS)
    assert list(containers(job)) == ["agent", "ipc-bridge"]
    assert "k8sclaw.io/sandbox" not in job["spec"]["template"]["metadata"]["labels"]


def test_sandbox_resources_come_from_the_spec() -> None:
    resources = {"limits": {"cpu": "2", "memory": "2Gi"}}
    job = build_job(make_run(sandbox={"enabled": True, "resources": resources}), OPTIONS)
    assert containers(job)["sandbox"]["resources"] == resources


def test_images_are_pinned_to_the_release() -> None:
    by_name = containers(build_job(make_run(sandbox={"enabled": True}), OPTIONS))
    assert by_name["agent"]["image"] == f"ghcr.io/k8sclaw/agent-runner:{names.VERSION}"
    assert by_name["ipc-bridge"]["image"] == f"ghcr.io/k8sclaw/ipc-bridge:{names.VERSION}"
    assert by_name["sandbox"]["image"] == f"ghcr.io/k8sclaw/sandbox:{names.VERSION}"
    custom = JobOptions(images=Images(agent="reg/agent:9"), event_bus_url="x")
    assert containers(build_job(make_run(), custom))["agent"]["image"] == "reg/agent:9"


def test_agent_env_is_exactly_what_the_runner_reads() -> None:
    run = make_run(
        agentId="helper",
        systemPrompt="be brief",
        toolPolicy={"allow": ["read_file", "fetch_url"], "deny": ["execute_command"]},
        model={
            "provider": "anthropic",
            "model": "claude",
            "baseURL": "http://llm",
            "thinking": "low",
            "authSecretRef": "alice-anthropic-key",
        },
    )
    agent = containers(build_job(run, OPTIONS))["agent"]
    assert env(agent) == {
        "AGENT_RUN_ID": "run-1",
        "AGENT_ID": "helper",
        "SESSION_KEY": "s-1",
        "INSTANCE_NAME": "alice",
        "TASK": "say hi",
        "SYSTEM_PROMPT": "be brief",
        "MODEL_PROVIDER": "anthropic",
        "MODEL_NAME": "claude",
        "MODEL_BASE_URL": "http://llm",
        "THINKING_MODE": "low",
        "TOOLS_ALLOW": "read_file,fetch_url",
        "TOOLS_DENY": "execute_command",
        "SPAWN_DEPTH": "0",
        "EVENT_BUS_URL": "nats://bus:4222",
        "K8SCLAW_IPC_DIR": "/ipc",
        "K8SCLAW_WORKSPACE_DIR": "/workspace",
        "K8SCLAW_SKILLS_DIR": "/skills",
        "K8SCLAW_MEMORY_DIR": "/memory",
        "K8SCLAW_TMP_DIR": "/tmp",
    }
    assert agent["envFrom"] == [{"secretRef": {"name": "alice-anthropic-key"}}]


def test_empty_optional_env_is_still_set_and_no_envfrom_without_secret() -> None:
    agent = containers(build_job(make_run(), OPTIONS))["agent"]
    values = env(agent)
    assert values["SYSTEM_PROMPT"] == values["MODEL_BASE_URL"] == ""
    assert "envFrom" not in agent


def test_unset_allow_list_leaves_tools_allow_out_and_an_empty_one_sets_it_empty() -> None:
    """The agent reads an absent TOOLS_ALLOW as every tool and an empty one as none."""
    unset = env(containers(build_job(make_run(), OPTIONS))["agent"])
    assert "TOOLS_ALLOW" not in unset
    empty = env(containers(build_job(make_run(toolPolicy={"allow": []}), OPTIONS))["agent"])
    assert empty["TOOLS_ALLOW"] == ""
    assert tools_from_spec(make_run(toolPolicy={"allow": []})) == Tools((), ())
    assert tools_from_spec(make_run(toolPolicy={"deny": ["x"]})) == Tools(None, ("x",))


def test_explicit_tools_override_the_spec() -> None:
    agent = containers(build_job(make_run(), OPTIONS, Tools(("a",), ("b", "c"))))["agent"]
    assert (env(agent)["TOOLS_ALLOW"], env(agent)["TOOLS_DENY"]) == ("a", "b,c")


def test_subagent_depth_is_passed_on() -> None:
    run = make_run(parent={"runName": "p", "sessionKey": "s", "spawnDepth": 2})
    assert env(containers(build_job(run, OPTIONS))["agent"])["SPAWN_DEPTH"] == "2"


def test_bridge_env_and_mounts() -> None:
    bridge = containers(build_job(make_run(), OPTIONS))["ipc-bridge"]
    assert env(bridge) == {
        "AGENT_RUN_ID": "run-1",
        "INSTANCE_NAME": "alice",
        "EVENT_BUS_URL": "nats://bus:4222",
        "K8SCLAW_IPC_DIR": "/ipc",
        "TOOLS_DENY": "",  # no TOOLS_ALLOW: the spec sets none, so every tool (as the agent)
    }
    assert env_from_fields(bridge) == {"POD_NAMESPACE": "metadata.namespace"}
    assert bridge["volumeMounts"] == [{"name": "ipc", "mountPath": "/ipc"}]


def test_only_the_bridge_reads_its_namespace_from_the_downward_api() -> None:
    job = build_job(make_run(sandbox={"enabled": True}), OPTIONS)
    found = {name: env_from_fields(c) for name, c in containers(job).items()}
    assert found == {
        "agent": {},
        "ipc-bridge": {"POD_NAMESPACE": "metadata.namespace"},
        "sandbox": {},
    }


def test_volumes_and_agent_mounts() -> None:
    job = build_job(
        make_run(
            skills=[
                {"skillPackRef": "k8s-ops"},
                {"configMapRef": "extra"},
                {"skillPackRef": "k8s-ops"},
            ]
        ),
        OPTIONS,
    )
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["workspace"] == {"name": "workspace", "emptyDir": {"sizeLimit": "1Gi"}}
    assert volumes["ipc"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Mi"}
    assert "emptyDir" in volumes["tmp"]
    assert volumes["skills"]["projected"]["sources"] == [
        {"configMap": {"name": "k8s-ops", "optional": True}},
        {"configMap": {"name": "extra", "optional": True}},
    ]
    assert volumes["memory"]["configMap"] == {"name": "alice-memory", "optional": True}
    mounts = {m["name"]: m for m in containers(job)["agent"]["volumeMounts"]}
    assert mounts["skills"] == {"name": "skills", "mountPath": "/skills", "readOnly": True}
    assert {m["mountPath"] for m in mounts.values()} == {
        "/workspace",
        "/ipc",
        "/tmp",
        "/skills",
        "/memory",
    }


def test_no_skills_mounts_an_empty_dir() -> None:
    volumes = {
        v["name"]: v for v in build_job(make_run(), OPTIONS)["spec"]["template"]["spec"]["volumes"]
    }
    assert "emptyDir" in volumes["skills"]


def test_a_run_without_uid_is_refused() -> None:
    run = make_run()
    run.metadata.uid = None
    with pytest.raises(ValueError, match="no uid"):
        build_job(run, OPTIONS)


def test_bus_credentials_are_a_secret_file_in_the_bridge_only() -> None:
    from dataclasses import replace

    run = AgentRun.from_wire(
        {
            **make_run().to_wire(),
            "metadata": {
                "name": "run-1",
                "namespace": "team",
                "uid": "0123456789abcdef",
                "creationTimestamp": "2026-12-04T10:00:00Z",
            },
        }
    )
    job = build_job(run, replace(OPTIONS, bus_credentials=True))
    pod = job["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == "run-1-bus-01234567"
    bridge = containers(job)[names.CONTAINER_IPC_BRIDGE]
    assert {"name": volume["name"], "mountPath": "/var/run/k8sclaw/bus", "readOnly": True} in (
        bridge["volumeMounts"]
    )
    assert env(bridge)["K8SCLAW_BUS_CREDS_DIR"] == "/var/run/k8sclaw/bus"
    assert env(bridge)["AGENT_RUN_UID"] == "0123456789abcdef"
    assert env(bridge)["AGENT_RUN_CREATED"] == "2026-12-04T10:00:00Z"
    for name, container in containers(job).items():
        if name != names.CONTAINER_IPC_BRIDGE:
            assert all(m["name"] != volume["name"] for m in container["volumeMounts"]), name
        assert not any("secretKeyRef" in str(e) and "bus" in str(e) for e in container["env"])
    assert "K8SCLAW_BUS_CREDS_DIR" not in str(build_job(run, OPTIONS))  # off unless minted


def test_run_creds_secret_is_owned_scoped_and_expires_after_the_timeout() -> None:
    import base64
    import time

    from k8sclaw_controllers.manager import _buscreds
    from k8sclaw_protocol import BusKeys, busauth
    from k8sclaw_protocol._busjwt import decode_claims

    run = make_run()
    keys = BusKeys.generate()
    secret = _buscreds.secret_for(run, keys.account_seed, 600)
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert secret["metadata"]["name"] == "run-1-bus-uid-1"
    text = base64.b64decode(secret["data"][busauth.BUS_CREDS_KEY]).decode()
    jwt = text.split("-----BEGIN NATS USER JWT-----\n")[1].split("\n")[0]
    claims = decode_claims(jwt)
    expected = busauth.run_permissions("team", "run-1", "uid-1").claims()
    assert claims["nats"]["pub"] == expected["pub"] and claims["nats"]["sub"] == expected["sub"]
    lifetime = claims["exp"] - time.time()
    assert 600 < lifetime <= 600 + _buscreds.EXPIRY_MARGIN_SECONDS + 5
    assert "SU" in text and keys.account_seed not in text  # the user's seed, not the account's


def test_history_reaches_the_agent_as_json_and_only_when_set() -> None:
    turns = [{"role": "user", "text": "my name is Ada"}, {"role": "assistant", "text": "hi"}]
    agent = containers(build_job(make_run(history=turns), OPTIONS))[names.CONTAINER_AGENT]
    assert json.loads(env(agent)[names.ENV_HISTORY]) == turns
    plain = containers(build_job(make_run(), OPTIONS))[names.CONTAINER_AGENT]
    assert names.ENV_HISTORY not in env(plain)
