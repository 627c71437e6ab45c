"""Transcripts through the aggregated API: kube-apiserver (the emulator) authenticates
every kind of user and forwards the identity; the API server trusts the identity headers
only from the front proxy's certificate and asks SubjectAccessReview as for its HTTP API.

A real kube-apiserver cannot reach an API server inside this test process, so these tests
need the emulator (skipped with K8SCLAW_TEST_KUBECONFIG).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest
import yaml

from k8sclaw.kube import ClusterTarget, ForbiddenError, Kube
from tests.controllers.apiserver._aggregated import (
    GROUP,
    Served,
    register,
    running_secure,
    seed,
    unregister,
)
from tests.controllers.apiserver._server import settings_for
from tests.harness.kube import KubeEnv
from tests.harness.kube._authn import ADMIN_TOKEN
from tests.harness.rbac_users import User, claw_rules, grant, make_user

BASE = f"/apis/{GROUP}/v1alpha1"
READ_TRANSCRIPTS = [{"apiGroups": [GROUP], "resources": ["*"], "verbs": ["get", "list"]}]


@pytest.fixture
def aggregated(kube: KubeEnv, tmp_path: Path) -> Iterator[Served]:
    if kube.is_real or kube.emulator is None:
        pytest.skip("a real kube-apiserver cannot reach the API server in this test process")
    data = tmp_path / "data"
    seed(data, kube.namespace, "run-1")
    with running_secure(settings_for(kube.kubeconfig, data)) as served:
        register(kube, served.secure_port)
        try:
            yield served
        finally:
            unregister(kube)


def _bind_user(kube: KubeEnv, role: str, user: str) -> None:
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client)
    binding = {
        "metadata": {"name": f"{user}-{role}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    rbac.create_namespaced_role_binding(kube.namespace, binding)


def _token_kubeconfig(kube: KubeEnv, user: User, path: Path) -> Path:
    doc = yaml.safe_load(kube.kubeconfig.read_text())
    for entry in doc["users"]:
        entry["user"] = {"token": user.token}
    path.write_text(yaml.safe_dump(doc))
    return path


def _get(kubeconfig: Path, path: str) -> Any:
    kube = Kube.connect(ClusterTarget(kubeconfig=str(kubeconfig)))
    try:
        return kube.request("GET", path, what=path)
    except ForbiddenError as exc:
        raise ForbiddenError(str(exc)) from None  # drop the frames holding the response
    finally:
        kube.close()


def _reader(kube: KubeEnv, name: str) -> None:
    """A Role that reads runs and the aggregated kinds."""
    rules = [*claw_rules("get", "list", resources=("agentruns",)), *READ_TRANSCRIPTS]
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client)
    rbac.create_namespaced_role(kube.namespace, {"metadata": {"name": name}, "rules": rules})


def test_a_certificate_user_and_a_token_user_read_a_transcript(
    aggregated: Served, kube: KubeEnv, tmp_path: Path
) -> None:
    assert kube.emulator is not None
    ns = kube.namespace
    _reader(kube, "readers")
    _bind_user(kube, "readers", "carol")
    carol = kube.emulator.write_cert_kubeconfig(tmp_path / "carol", "carol", ("devs",), ns)
    alice = make_user(kube.api_client, ns, "alice")
    grant(kube.api_client, ns, alice, [*claw_rules("get", "list"), *READ_TRANSCRIPTS])
    token_config = _token_kubeconfig(kube, alice, tmp_path / "alice")
    for config in (carol, token_config):
        transcript = _get(config, f"{BASE}/namespaces/{ns}/transcripts/run-1")
        assert transcript["kind"] == "Transcript"
        assert transcript["metadata"] == {
            "name": "run-1",
            "namespace": ns,
            "creationTimestamp": transcript["metadata"]["creationTimestamp"],
        }
        kinds = [e["kind"] for e in transcript["events"]]
        assert kinds == ["task", "text", "tool_call", "tool_result", "text", "result"]
        sessions = _get(config, f"{BASE}/namespaces/{ns}/sessions")
        assert sessions["kind"] == "SessionList"
        assert [s["metadata"]["name"] for s in sessions["items"]] == ["chat-1"]
        session = _get(config, f"{BASE}/namespaces/{ns}/sessions/chat-1")
        assert session["runs"] == ["run-1"]
    groups = _get(carol, "/apis")["groups"]
    assert GROUP in [g["name"] for g in groups]
    resources = _get(carol, BASE)["resources"]
    assert sorted(r["name"] for r in resources) == ["sessions", "transcripts"]


def test_a_user_without_get_agentruns_is_refused_on_every_path(
    aggregated: Served, kube: KubeEnv, tmp_path: Path
) -> None:
    assert kube.emulator is not None
    ns = kube.namespace
    # mallory may read the aggregated kinds but not the runs they come from: our server says no
    mallory = make_user(kube.api_client, ns, "mallory")
    grant(kube.api_client, ns, mallory, READ_TRANSCRIPTS)
    # dave (certificate) has no binding at all: kube-apiserver itself says no
    dave = kube.emulator.write_cert_kubeconfig(tmp_path / "dave", "dave", (), ns)
    configs = {
        "mallory": _token_kubeconfig(kube, mallory, tmp_path / "mallory"),
        "dave": dave,
    }
    paths = [
        f"{BASE}/namespaces/{ns}/transcripts/run-1",
        f"{BASE}/namespaces/{ns}/transcripts",
        f"{BASE}/namespaces/{ns}/sessions",
        f"{BASE}/namespaces/{ns}/sessions/chat-1",
    ]
    for who, config in configs.items():
        for path in paths:
            with pytest.raises(ForbiddenError) as refused:
                _get(config, path)
            assert who in str(refused.value), str(refused.value)
    # the HTTP API refuses mallory too
    with httpx.Client(base_url=aggregated.base) as http:
        headers = {"Authorization": f"Bearer {mallory.token}"}
        got = http.get(f"/api/v1/namespaces/{ns}/runs/run-1/transcript", headers=headers)
        assert got.status_code == 403
    # across namespaces: kube-apiserver refuses, mallory may list in one namespace only
    with pytest.raises(ForbiddenError):
        _get(configs["mallory"], f"{BASE}/sessions")


def test_identity_headers_without_the_front_proxy_certificate_are_ignored(
    aggregated: Served, kube: KubeEnv, tmp_path: Path
) -> None:
    ns = kube.namespace
    url = f"https://127.0.0.1:{aggregated.secure_port}{BASE}/namespaces/{ns}/transcripts/run-1"
    forged = {"X-Remote-User": "kubernetes-admin", "X-Remote-Group": "system:masters"}
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    with httpx.Client(verify=insecure) as http:
        got = http.get(url, headers=forged)
        assert got.status_code == 401, got.text
        assert got.json()["kind"] == "Status"
        mallory = make_user(kube.api_client, ns, "mallory")
        got = http.get(url, headers={**forged, "Authorization": f"Bearer {mallory.token}"})
        assert got.status_code == 403, got.text
        assert "mallory" in got.json()["message"]
        # a client certificate from the cluster CA (a real user's) is not the front proxy
    assert kube.emulator is not None
    assert kube.emulator.pki is not None
    from tests.harness.kube._pki import client_cert

    cert, key = client_cert(
        kube.emulator.pki.ca_cert, kube.emulator.pki.ca_key, "front-proxy-client"
    )
    (tmp_path / "c.crt").write_bytes(cert)
    (tmp_path / "c.key").write_bytes(key)
    insecure.load_cert_chain(tmp_path / "c.crt", tmp_path / "c.key")
    with httpx.Client(verify=insecure) as http, pytest.raises(httpx.TransportError):
        http.get(url, headers=forged)  # its CA is not the request-header CA: no handshake


def test_kubectl_style_table_and_status(aggregated: Served, kube: KubeEnv) -> None:
    ns = kube.namespace
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Accept": accept}
    with httpx.Client(base_url=kube.server_url, headers=headers) as http:
        table = http.get(f"{BASE}/namespaces/{ns}/sessions").json()
        assert table["kind"] == "Table"
        assert [r["cells"][:3] for r in table["rows"]] == [["chat-1", "bot", 1]]
        missing = http.get(f"{BASE}/namespaces/{ns}/sessions/nope")
        assert missing.status_code == 404
        assert missing.json()["kind"] == "Status"
        assert missing.json()["reason"] == "NotFound"


def test_cli_reads_transcripts_and_sessions_as_a_certificate_user(
    aggregated: Served, kube: KubeEnv, tmp_path: Path
) -> None:
    """`runs logs` of a run whose pod (and AgentRun) are gone; `sessions list|show`."""
    from click.testing import CliRunner

    from k8sclaw.cli import cli

    assert kube.emulator is not None
    ns = kube.namespace
    _reader(kube, "readers")
    _bind_user(kube, "readers", "erin")
    config = str(kube.emulator.write_cert_kubeconfig(tmp_path / "erin", "erin", (), ns))
    runner = CliRunner()
    logs = runner.invoke(cli, ["runs", "logs", "run-1", "--kubeconfig", config])
    assert logs.exit_code == 0, logs.output
    lines = logs.stdout.splitlines()
    assert lines == [
        "Looking.",
        '→ read_file {"path": "a.txt"}',
        "  ← hello from a.txt",
        "It says hi.",
    ], logs.output
    followed = runner.invoke(cli, ["runs", "logs", "run-1", "-f", "--kubeconfig", config])
    assert followed.exit_code == 0, followed.output
    assert followed.stdout.splitlines() == lines  # ends at the recorded result
    listed = runner.invoke(cli, ["sessions", "list", "--kubeconfig", config])
    assert listed.exit_code == 0, listed.output
    assert "chat-1" in listed.stdout and "bot" in listed.stdout
    shown = runner.invoke(cli, ["sessions", "show", "chat-1", "--kubeconfig", config])
    assert shown.exit_code == 0, shown.output
    assert "runs: run-1" in shown.stdout
    assert "  ← hello from a.txt" in shown.stdout
    missing = runner.invoke(cli, ["sessions", "show", "nope", "--kubeconfig", config])
    assert missing.exit_code != 0


def test_runs_logs_says_once_when_the_transcript_api_is_missing(
    kube: KubeEnv, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from k8sclaw.cli import cli

    got = CliRunner().invoke(
        cli, ["runs", "logs", "never-was", "--kubeconfig", str(kube.kubeconfig)]
    )
    assert got.exit_code != 0
    assert got.stderr.count("transcript API") == 1, got.stderr


async def test_tui_log_view_shows_a_finished_runs_tool_calls_as_entries(
    aggregated: Served, kube: KubeEnv
) -> None:
    """The TUI's `l` on a finished run: the transcript, tool call and result as entries."""
    import asyncio

    from textual.app import App
    from textual.widgets import RichLog

    from k8sclaw.tui import _ops
    from k8sclaw.tui._screens import TextScreen

    client = Kube.connect(ClusterTarget(kubeconfig=str(kube.kubeconfig)))
    screen = TextScreen(
        "Transcript run-1",
        stream=lambda: _ops.transcript_entries(client, "run-1", kube.namespace),
    )

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(screen)

    try:
        async with Host().run_test(size=(100, 30)) as pilot:
            for _ in range(400):
                if len(screen.lines) >= 6:
                    break
                await asyncio.sleep(0.05)
            await pilot.pause()
            shown = [s.text.rstrip() for s in screen.query_one(RichLog).lines]
    finally:
        client.close()
    assert screen.lines == [
        "» read a.txt",
        "Looking.",
        '→ read_file {"path": "a.txt"}',
        "  ← hello from a.txt",
        "It says hi.",
        "✓ success",
    ]
    assert '→ read_file {"path": "a.txt"}' in shown
