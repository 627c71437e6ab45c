"""Resource commands against the harness API: list/get/-o, run via the shared builder,
features as merge patches, and the errors a new user meets."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes
import pytest
import yaml
from click.testing import CliRunner, Result

from k8sclaw.cli import cli
from k8sclaw.installer import SAMPLES_DIR
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv


def k8sclaw(kube: KubeEnv, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--kubeconfig", str(kube.kubeconfig)])


def _create_sample(kube: KubeEnv, kind: str, plural: str, **spec_changes: object) -> dict:
    body = yaml.safe_load((SAMPLES_DIR / f"{kind}.yaml").read_text())
    body["spec"].update(spec_changes)
    api = kubernetes.client.CustomObjectsApi(kube.api_client)
    return api.create_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, plural, body
    )


@pytest.fixture
def alice(kube: KubeEnv) -> KubeEnv:
    _create_sample(kube, "clawinstance", "clawinstances")
    _create_sample(kube, "clawpolicy", "clawpolicies")
    return kube


def test_run_creates_an_agentrun_through_the_shared_builder(alice: KubeEnv) -> None:
    result = k8sclaw(alice, "run", "summarise the open issues")
    assert result.exit_code == 0, result.stderr
    name = result.stdout.strip().removeprefix("agentrun/")
    api = kubernetes.client.CustomObjectsApi(alice.api_client)
    run = api.get_namespaced_custom_object(
        names.GROUP, names.API_VERSION, alice.namespace, "agentruns", name
    )
    assert name.startswith("alice-run-")
    assert run["metadata"]["labels"][names.LABEL_INSTANCE] == "alice"
    assert run["metadata"]["labels"][names.LABEL_COMPONENT] == "cli"
    assert run["spec"]["model"] == {
        "provider": "openai",
        "model": "gpt-4o",
        "thinking": "low",
        "authSecretRef": "alice-openai-key",
    }
    assert run["spec"]["task"] == "summarise the open issues"
    assert run["metadata"]["ownerReferences"][0]["name"] == "alice"

    listed = k8sclaw(alice, "runs", "list")
    assert listed.exit_code == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "INSTANCE", "PHASE", "POD", "TOKENS", "DURATION", "AGE"]
    assert row.split()[:3] == [name, "alice", "Pending"]
    wide = k8sclaw(alice, "runs", "list", "-o", "wide").stdout
    assert "cli" in wide and "openai/gpt-4o" in wide
    as_json = json.loads(k8sclaw(alice, "runs", "get", name, "-o", "json").stdout)
    assert as_json["spec"]["instanceRef"] == "alice"
    assert k8sclaw(alice, "runs", "list", "-o", "name").stdout == f"agentrun/{name}\n"
    every = k8sclaw(alice, "runs", "list", "-A").stdout
    assert every.splitlines()[0].startswith("NAMESPACE") and alice.namespace in every


def test_runs_logs_before_a_pod_exists(alice: KubeEnv) -> None:
    name = k8sclaw(alice, "runs", "create", "hello").stdout.strip().removeprefix("agentrun/")
    result = k8sclaw(alice, "runs", "logs", name)
    assert result.exit_code == 7
    *notes, error, hint = result.stderr.splitlines()
    assert (error, hint) == (
        f"error: agentrun {name} has no pod yet (phase: Pending)",
        f"hint: follow it with `k8sclaw runs logs {name} -f`",
    )
    # without the transcript APIService the CLI says once that it reads the pod instead
    assert all(n.startswith("note: the transcript API") for n in notes) and len(notes) <= 1


def test_unknown_instance_for_run(alice: KubeEnv) -> None:
    result = k8sclaw(alice, "run", "hi", "--instance", "nobody")
    assert result.exit_code == 7
    assert result.stderr.splitlines() == [
        f'error: instance "nobody" not found in namespace {alice.namespace}',
        "hint: see `k8sclaw instances list`, or create one with `k8sclaw onboard`",
    ]
    assert "Traceback" not in result.output


def test_run_without_any_instance(kube: KubeEnv) -> None:
    result = k8sclaw(kube, "run", "hi")
    assert result.exit_code == 7 and "k8sclaw onboard" in result.stderr


def test_instances_policies_skills_lists(alice: KubeEnv) -> None:
    _create_sample(alice, "skillpack", "skillpacks")
    instances = k8sclaw(alice, "instances", "list").stdout.splitlines()
    assert instances[0].split()[:3] == ["NAME", "PHASE", "CHANNELS"]
    assert instances[1].split()[:3] == ["alice", "Pending", "telegram"]
    assert k8sclaw(alice, "policies", "list").stdout.splitlines()[1].split()[0] == "default-policy"
    skills = k8sclaw(alice, "skills", "list").stdout.splitlines()
    assert skills[1].split()[:2] == ["code-review", "2"]
    got = yaml.safe_load(k8sclaw(alice, "instances", "get", "alice").stdout)
    assert got["spec"]["authRefs"][0]["secret"] == "alice-openai-key"
    missing = k8sclaw(alice, "instances", "get", "bob")
    assert missing.exit_code == 7
    assert missing.stderr.splitlines() == [
        f'error: clawinstance "bob" not found in namespace {alice.namespace}',
        f"hint: list them with `k8sclaw instances list -n {alice.namespace}`",
    ]


def test_features_enable_disable_list(alice: KubeEnv) -> None:
    on = k8sclaw(alice, "features", "enable", "browser-automation", "--policy", "default-policy")
    assert (
        on.exit_code == 0
        and on.stdout == 'Feature "browser-automation" enabled on policy default-policy\n'
    )
    off = k8sclaw(alice, "features", "disable", "code-execution", "--policy", "default-policy")
    assert off.exit_code == 0
    listed = k8sclaw(alice, "features", "list", "--policy", "default-policy").stdout
    rows = {r.split()[0]: r.split()[1] for r in listed.splitlines()[1:]}
    lines = {r.split()[0]: r for r in listed.splitlines()[1:]}
    assert listed.splitlines()[0].split() == ["FEATURE", "ENABLED", "SOURCE", "ENABLES", "TOOLS"]
    assert "run commands in the sandbox" in lines["code-execution"]
    # The gate is off: ENABLED says so and the tool is not offered at all, ask or not.
    assert lines["code-execution"].endswith("execute_command")
    assert lines["file-access"].endswith("read_file, write_file, list_directory")
    assert rows["browser-automation"] == "true" and rows["code-execution"] == "false"
    assert rows["sub-agents"] == "true"
    api = kubernetes.client.CustomObjectsApi(alice.api_client)
    policy = api.get_namespaced_custom_object(
        names.GROUP, names.API_VERSION, alice.namespace, "clawpolicies", "default-policy"
    )
    assert policy["spec"]["toolGating"]["rules"]  # the rest of the spec untouched
    again = k8sclaw(alice, "features", "enable", "browser-automation", "--policy", "default-policy")
    assert again.stdout == 'Feature "browser-automation" already enabled on policy default-policy\n'
    unset = k8sclaw(alice, "features", "disable", "network-access", "--policy", "default-policy")
    assert unset.stdout == 'Feature "network-access" already disabled on policy default-policy\n'
    missing = k8sclaw(alice, "features", "list", "--policy", "nope")
    assert missing.exit_code == 7 and missing.stderr.startswith(
        'error: clawpolicy "nope" not found'
    )


def test_delete_instance(alice: KubeEnv, tmp_path: Path) -> None:
    result = k8sclaw(alice, "instances", "delete", "alice")
    assert result.exit_code == 0 and result.stdout == "clawinstance/alice deleted\n"
    again = k8sclaw(alice, "instances", "delete", "alice")
    assert again.exit_code == 7
    assert again.stderr.splitlines() == [
        f'error: clawinstance "alice" not found in namespace {alice.namespace}',
        f"hint: list them with `k8sclaw instances list -n {alice.namespace}`",
    ]


def test_runs_delete_of_a_missing_run_has_a_hint(kube: KubeEnv) -> None:
    result = k8sclaw(kube, "runs", "delete", "does-not-exist")
    assert result.exit_code == 7
    assert result.stderr.splitlines()[1] == (
        f"hint: list them with `k8sclaw runs list -n {kube.namespace}`"
    )


def test_root_namespace_flag_applies_to_the_command(alice: KubeEnv) -> None:
    name = k8sclaw(alice, "runs", "create", "hi").stdout.strip().removeprefix("agentrun/")
    here = k8sclaw(alice, "-n", alice.namespace, "runs", "list", "-o", "name")
    assert here.stdout == f"agentrun/{name}\n"
    elsewhere = k8sclaw(alice, "-n", f"{alice.namespace}-elsewhere", "runs", "list", "-o", "name")
    assert elsewhere.exit_code == 0 and elsewhere.stdout == ""


def test_kubectl_output_conventions(alice: KubeEnv) -> None:
    first = k8sclaw(alice, "runs", "create", "b task").stdout.strip().removeprefix("agentrun/")
    second = k8sclaw(alice, "runs", "create", "a task").stdout.strip().removeprefix("agentrun/")
    names_ = k8sclaw(alice, "runs", "list", "-o", "jsonpath={.items[*].metadata.name}")
    assert names_.exit_code == 0, names_.stderr
    assert sorted(names_.stdout.split()) == sorted([first, second])
    by_task = k8sclaw(
        alice,
        "runs",
        "list",
        "--sort-by",
        ".spec.task",
        "-o",
        "custom-columns=N:.metadata.name,T:.spec.task,X:.nope",
    )
    assert by_task.stdout.splitlines() == [
        f"{'N'.ljust(len(first))}   T        X",
        f"{second}   a task   <none>",
        f"{first}   b task   <none>",
    ]
    one = k8sclaw(alice, "runs", "get", first, "-o", 'jsonpath={.spec.task}{"\\n"}')
    assert one.stdout == "b task\n"
    selected = k8sclaw(alice, "runs", "list", "-l", "k8sclaw.io/instance=nobody", "-o", "name")
    assert selected.exit_code == 0 and selected.stdout == ""
    bad = k8sclaw(alice, "runs", "list", "-o", "jsonpath={range .items[*]}x{end}")
    assert bad.exit_code != 0 and "not supported" in bad.stderr
    assert k8sclaw(alice, "runs", "list", "-o", "xml").exit_code == 2


def test_features_list_marks_an_ask_tool_as_needing_approval(alice: KubeEnv) -> None:
    listed = k8sclaw(alice, "features", "list", "--policy", "default-policy").stdout
    lines = {r.split()[0]: r for r in listed.splitlines()[1:]}
    assert lines["code-execution"].endswith("execute_command (needs approval)")  # sample's ask


def test_an_absent_gate_is_on_and_disabling_it_writes_false(kube: KubeEnv) -> None:
    """docs/policy.md: a gate that is absent counts as on. `features list` must say so and
    `features disable` must not answer "already disabled" while its tools are offered."""
    _create_sample(kube, "clawpolicy", "clawpolicies", featureGates={})
    listed = k8sclaw(kube, "features", "list", "--policy", "default-policy").stdout
    rows = {r.split()[0]: r.split()[1:3] for r in listed.splitlines()[1:]}
    assert rows["code-execution"] == ["true", "default"]
    off = k8sclaw(kube, "features", "disable", "code-execution", "--policy", "default-policy")
    assert off.stdout == 'Feature "code-execution" disabled on policy default-policy\n'
    api = kubernetes.client.CustomObjectsApi(kube.api_client)
    policy = api.get_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, "clawpolicies", "default-policy"
    )
    assert policy["spec"]["featureGates"] == {"code-execution": False}
    on = k8sclaw(kube, "features", "enable", "sub-agents", "--policy", "default-policy")
    assert on.stdout == (
        'Feature "sub-agents" already enabled on policy default-policy (the default)\n'
    )


def test_policies_describe_lists_every_tool_with_what_decides_it(alice: KubeEnv) -> None:
    result = k8sclaw(alice, "policies", "describe", "default-policy")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "Name:         default-policy" in text
    tools = {
        line.split()[0]: line.split(None, 1)[1]
        for line in text.split("Tools:\n", 1)[1].splitlines()
    }
    assert tools["execute_command"].startswith("needs approval")
    assert tools["execute_command"].endswith("(toolGating.rules[execute_command])")
    assert tools["fetch_url"].startswith("denied") and "featureGates.network-access" in text
    assert tools["write_file"].startswith("allowed")
    missing = k8sclaw(alice, "policies", "describe", "nope")
    assert missing.exit_code == 7 and "not found" in missing.stderr
