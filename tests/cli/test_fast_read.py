"""The fast read path of `list`/`get`: same output as the kubernetes-client path, real TLS
and credentials (CA, client certs, tokens, exec plugins) against a local HTTPS server,
and a clean fallback for kubeconfigs it does not handle."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import trustme
import yaml
from click.testing import CliRunner, Result

from k8sclaw.cli import cli
from k8sclaw.installer import SAMPLES_DIR
from k8sclaw.render import _base as render_base
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv

RUN = yaml.safe_load((SAMPLES_DIR / "agentrun.yaml").read_text())
RUNS_PATH = "/apis/k8sclaw.io/v1alpha1/namespaces/team-a/agentruns"


def invoke(*args: str, **env: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


# -- parity with the kubernetes-client path, on the emulator ---------------------------------


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both paths render AGE from the same instant, else a second boundary between the
    two invocations makes `0s` vs `1s`."""
    instant = datetime.now(UTC)
    monkeypatch.setattr(render_base, "clock", lambda: instant)


@pytest.fixture
def runs(kube: KubeEnv) -> KubeEnv:
    api = kubernetes.client.CustomObjectsApi(kube.api_client)
    for i, status in enumerate([None, {"phase": "Running", "podName": "p"}, {"phase": "Failed"}]):
        body = json.loads(json.dumps(RUN))
        body["metadata"]["name"] = f"r-{i}"
        made = api.create_namespaced_custom_object(
            names.GROUP, names.API_VERSION, kube.namespace, "agentruns", body
        )
        if status:
            made["status"] = {**status, "tokenUsage": {"totalTokens": 10 * i, "durationMs": 999}}
            api.replace_namespaced_custom_object_status(
                names.GROUP, names.API_VERSION, kube.namespace, "agentruns", f"r-{i}", made
            )
    return kube


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "list"],
        ["runs", "list", "-o", "wide"],
        ["runs", "list", "-o", "name"],
        ["runs", "list", "-l", "k8sclaw.io/component=cli", "-o", "wide"],
        ["runs", "get", "r-1", "-o", "wide"],
        ["runs", "get", "r-0", "-o", "name"],
        ["instances", "list"],
        ["runs", "get", "nope", "-o", "table"],
    ],
    ids="-".join,
)
def test_same_output_as_the_kubernetes_client_path(runs: KubeEnv, args: list[str]) -> None:
    argv = [*args, "--kubeconfig", str(runs.kubeconfig)]
    fast, slow = invoke(*argv), invoke(*argv, K8SCLAW_NO_FAST_READ="1")
    assert (fast.exit_code, fast.stdout, fast.stderr) == (slow.exit_code, slow.stdout, slow.stderr)
    assert fast.stdout or fast.stderr


def test_all_namespaces_has_a_namespace_column(runs: KubeEnv) -> None:
    argv = ["runs", "list", "-A", "--kubeconfig", str(runs.kubeconfig)]
    fast, slow = invoke(*argv), invoke(*argv, K8SCLAW_NO_FAST_READ="1")
    assert fast.exit_code == 0 and fast.stdout == slow.stdout
    assert fast.stdout.startswith("NAMESPACE") and runs.namespace in fast.stdout


def test_fast_path_loads_neither_pydantic_nor_kubernetes_nor_rich(runs: KubeEnv) -> None:
    code = (
        "import sys\nfrom k8sclaw.cli import main\n"
        f"rc = main(['runs', 'list', '--kubeconfig', {str(runs.kubeconfig)!r}])\n"
        "heavy = [m for m in ('pydantic', 'kubernetes', 'rich', 'urllib3') if m in sys.modules]\n"
        "print('HEAVY', rc, heavy, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY 0 []" in out.stderr, out.stderr
    assert "r-2" in out.stdout


# -- TLS and credentials against a local HTTPS API ------------------------------------------


@dataclass
class FakeAPI:
    """An HTTPS server answering the AgentRun list; records what each request carried."""

    url: str
    ca: trustme.CA
    seen: list[dict[str, Any]] = field(default_factory=list)


def _handler(api: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = self.connection.getpeercert()  # type: ignore[attr-defined]
            api.seen.append({"auth": self.headers.get("Authorization"), "peer": peer})
            if self.path.split("?")[0] != RUNS_PATH:
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps({"apiVersion": "k8sclaw.io/v1alpha1", "items": [RUN]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _serve(hostname: str, require_client_cert: bool) -> Iterator[FakeAPI]:
    ca = trustme.CA()
    api = FakeAPI("", ca)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(hostname).configure_cert(ctx)
    if require_client_cert:
        ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    api.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def https_api() -> Iterator[FakeAPI]:
    yield from _serve("127.0.0.1", require_client_cert=False)


@pytest.fixture
def mtls_api() -> Iterator[FakeAPI]:
    yield from _serve("127.0.0.1", require_client_cert=True)


@pytest.fixture
def named_api() -> Iterator[FakeAPI]:
    yield from _serve("kube.internal", require_client_cert=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _kubeconfig(path: Path, server: str, cluster: dict[str, Any], user: dict[str, Any]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
                "contexts": [
                    {"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "team-a"}}
                ],
                "current-context": "ctx",
                "users": [{"name": "u", "user": user}],
            }
        )
    )
    return path


def _list(config: Path, **env: str) -> Result:
    return invoke("runs", "list", "-o", "name", "--kubeconfig", str(config), **env)


def _ca_data(api: FakeAPI) -> dict[str, str]:
    return {"certificate-authority-data": _b64(api.ca.cert_pem.bytes())}


def test_ca_data_and_bearer_token(https_api: FakeAPI, tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path / "k", https_api.url, _ca_data(https_api), {"token": "s3cret"})
    result = _list(config)
    assert (result.exit_code, result.stdout) == (0, "agentrun/alice-run-001\n"), result.stderr
    assert https_api.seen[-1]["auth"] == "Bearer s3cret"


def test_ca_file_relative_to_the_kubeconfig_and_token_file(
    https_api: FakeAPI, tmp_path: Path
) -> None:
    https_api.ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    (tmp_path / "token").write_text("from-file\n")
    config = _kubeconfig(
        tmp_path / "k", https_api.url, {"certificate-authority": "ca.crt"}, {"tokenFile": "token"}
    )
    assert _list(config).exit_code == 0
    assert https_api.seen[-1]["auth"] == "Bearer from-file"


def test_unknown_ca_is_unreachable_and_insecure_skip_connects(
    https_api: FakeAPI, tmp_path: Path
) -> None:
    user = {"username": "ada", "password": "pw"}
    config = _kubeconfig(tmp_path / "k", https_api.url, {}, user)
    result = _list(config)
    assert result.exit_code == 4 and "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert "Traceback" not in result.stderr
    config = _kubeconfig(tmp_path / "k", https_api.url, {"insecure-skip-tls-verify": True}, user)
    assert _list(config).exit_code == 0
    assert https_api.seen[-1]["auth"] == "Basic " + _b64(b"ada:pw")


def test_tls_server_name(named_api: FakeAPI, tmp_path: Path) -> None:
    cluster = _ca_data(named_api)
    config = _kubeconfig(tmp_path / "k", named_api.url, cluster, {"token": "t"})
    assert _list(config).exit_code == 4  # the certificate is for kube.internal only
    cluster["tls-server-name"] = "kube.internal"
    config = _kubeconfig(tmp_path / "k", named_api.url, cluster, {"token": "t"})
    assert _list(config).exit_code == 0


def test_client_certificate_data(mtls_api: FakeAPI, tmp_path: Path) -> None:
    cert = mtls_api.ca.issue_cert("ada@example.com")
    user = {
        "client-certificate-data": _b64(cert.cert_chain_pems[0].bytes()),
        "client-key-data": _b64(cert.private_key_pem.bytes()),
    }
    config = _kubeconfig(tmp_path / "k", mtls_api.url, _ca_data(mtls_api), user)
    result = _list(config)
    assert result.exit_code == 0, result.stderr
    assert mtls_api.seen[-1]["peer"] is not None and mtls_api.seen[-1]["auth"] is None


def _plugin(tmp_path: Path, status: dict[str, Any], exit_code: int = 0) -> dict[str, Any]:
    """An exec credential plugin (a Python script) that records its KUBERNETES_EXEC_INFO."""
    script = tmp_path / "plugin.py"
    script.write_text(
        "import json, os, sys\n"
        f"open({str(tmp_path / 'info.json')!r}, 'w').write(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "assert os.environ['PLUGIN_FLAVOUR'] == 'test'\n"
        f"print(json.dumps({{'kind': 'ExecCredential', 'status': {status!r}}}))\n"
        f"sys.exit({exit_code})\n"
    )
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(script)],
            "env": [{"name": "PLUGIN_FLAVOUR", "value": "test"}],
            "interactiveMode": "Never",
            "provideClusterInfo": True,
        }
    }


def test_exec_plugin_token(https_api: FakeAPI, tmp_path: Path) -> None:
    user = _plugin(tmp_path, {"token": "from-plugin"})
    config = _kubeconfig(tmp_path / "k", https_api.url, _ca_data(https_api), user)
    assert _list(config).exit_code == 0
    assert https_api.seen[-1]["auth"] == "Bearer from-plugin"
    info = json.loads((tmp_path / "info.json").read_text())
    assert info["kind"] == "ExecCredential" and info["spec"]["interactive"] is False
    assert info["spec"]["cluster"]["server"] == https_api.url


def test_exec_plugin_client_certificate(mtls_api: FakeAPI, tmp_path: Path) -> None:
    cert = mtls_api.ca.issue_cert("ada@example.com")
    status = {
        "clientCertificateData": cert.cert_chain_pems[0].bytes().decode(),
        "clientKeyData": cert.private_key_pem.bytes().decode(),
    }
    config = _kubeconfig(
        tmp_path / "k", mtls_api.url, _ca_data(mtls_api), _plugin(tmp_path, status)
    )
    assert _list(config).exit_code == 0
    assert mtls_api.seen[-1]["peer"] is not None


@pytest.mark.parametrize(
    ("status", "exit_code", "needle"),
    [({"token": "x"}, 1, "exited with 1"), ({}, 0, "neither a token nor a client certificate")],
    ids=["exit-1", "empty-status"],
)
def test_failing_exec_plugin_is_one_line(
    https_api: FakeAPI, tmp_path: Path, status: dict[str, Any], exit_code: int, needle: str
) -> None:
    user = _plugin(tmp_path, status, exit_code)
    result = _list(_kubeconfig(tmp_path / "k", https_api.url, _ca_data(https_api), user))
    assert result.exit_code == 6 and needle in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: exec credential plugin")


def test_unsupported_auth_falls_back_to_the_kubernetes_client(
    https_api: FakeAPI, tmp_path: Path
) -> None:
    user = {"token": "t", "as": "someone-else"}
    config = _kubeconfig(tmp_path / "k", https_api.url, _ca_data(https_api), user)
    result = _list(config, K8SCLAW_DEBUG="1")
    assert result.exit_code == 0 and result.stdout == "agentrun/alice-run-001\n"
    assert "fast read path off (user 'u' uses 'as')" in result.stderr


def test_kubeconfig_path_list_merges_first_wins(https_api: FakeAPI, tmp_path: Path) -> None:
    good = _kubeconfig(tmp_path / "good", https_api.url, _ca_data(https_api), {"token": "first"})
    other = _kubeconfig(tmp_path / "other", "https://127.0.0.1:1", {}, {"token": "second"})
    merged = os.pathsep.join([str(good), str(other)])
    result = invoke("runs", "list", "-o", "name", KUBECONFIG=merged)
    assert result.exit_code == 0, result.stderr
    assert https_api.seen[-1]["auth"] == "Bearer first"
