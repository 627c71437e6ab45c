"""Settings resolution and the command line's one-line errors."""

from __future__ import annotations

import pytest

from k8sclaw_controllers.webhook import main, resolve


def test_argument_beats_environment_beats_default() -> None:
    env = {"K8SCLAW_WEBHOOK_LISTEN": "127.0.0.1:9000", "POD_NAMESPACE": "ops"}
    assert resolve([], env).listen == "127.0.0.1:9000"
    assert resolve(["--listen", "0.0.0.0:1"], env).listen == "0.0.0.0:1"
    assert resolve([], env).namespace == "ops"
    assert resolve([], {}).listen == "0.0.0.0:8443"
    assert resolve([], {}).name == "k8sclaw-webhook"
    assert resolve(["--dev-url", "https://127.0.0.1:9443"], {}).name == "k8sclaw-webhook-dev"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9443", "https://127.0.0.1", "https://127.0.0.1:9443/x"]
)
def test_bad_dev_url_exits_2_with_a_fix(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dev-url", url]) == 2
    assert "use https://127.0.0.1:PORT" in capsys.readouterr().err


def test_outside_a_cluster_without_dev_url_says_how_to_run_locally(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert main([]) == 2
    assert "--dev-url https://127.0.0.1" in capsys.readouterr().err
