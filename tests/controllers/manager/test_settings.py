"""Settings resolve argument -> K8SCLAW_* environment -> default, in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from k8sclaw_controllers.manager import main, parse_duration, resolve
from k8sclaw_protocol import names


def test_defaults() -> None:
    settings = resolve([], {})
    assert settings.all_namespaces
    assert settings.history_limit == 50
    assert settings.default_timeout_seconds == 600
    assert settings.event_bus_url == names.EVENT_BUS_URL
    assert settings.images.agent.endswith(f"/agent-runner:{names.VERSION}")
    assert (settings.metrics_host, settings.metrics_port) == ("0.0.0.0", 8080)


def test_environment_fills_what_flags_leave_out() -> None:
    env = {
        "EVENT_BUS_URL": "nats://x:1",
        "K8SCLAW_HISTORY_LIMIT": "7",
        "K8SCLAW_AGENT_IMAGE": "r/a:1",
        "K8SCLAW_NAMESPACES": "a, b",
        "KUBECONFIG": "/k",
        "K8SCLAW_METRICS_BIND_ADDRESS": "127.0.0.1:0",
    }
    settings = resolve([], env)
    assert settings.namespaces == ("a", "b")
    assert (settings.event_bus_url, settings.history_limit, settings.kubeconfig) == (
        "nats://x:1",
        7,
        "/k",
    )
    assert settings.images.agent == "r/a:1"
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 0)


def test_flags_win_over_the_environment() -> None:
    env = {"EVENT_BUS_URL": "nats://env:1", "K8SCLAW_HISTORY_LIMIT": "7", "K8SCLAW_NAMESPACES": "a"}
    settings = resolve(
        [
            "-n",
            "x",
            "--namespace",
            "y",
            "--event-bus-url",
            "nats://flag:2",
            "--history-limit",
            "3",
            "--default-timeout",
            "90s",
            "--sandbox-image",
            "s:2",
        ],
        env,
    )
    assert settings.namespaces == ("x", "y")
    assert settings.event_bus_url == "nats://flag:2"
    assert settings.history_limit == 3
    assert settings.default_timeout_seconds == 90
    assert settings.images.sandbox == "s:2"


def test_all_namespaces_ignores_the_namespace_variable() -> None:
    assert resolve(["--all-namespaces"], {"K8SCLAW_NAMESPACES": "a"}).all_namespaces


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("1h30m", 5400), ("250ms", 0.25), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "10x", "m10", "1h 2m"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 90s"):
        parse_duration(text)


def test_bad_default_timeout_fails_at_start() -> None:
    with pytest.raises(ValueError, match="duration"):
        resolve(["--default-timeout", "soon"], {})


def test_an_empty_bus_url_flag_turns_the_bus_off() -> None:
    assert resolve(["--event-bus-url", ""], {"EVENT_BUS_URL": "nats://x:1"}).event_bus_url == ""
    assert resolve([], {"EVENT_BUS_URL": ""}).event_bus_url == names.EVENT_BUS_URL


def test_main_without_cluster_access_exits_2_with_a_hint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--kubeconfig", str(tmp_path / "missing")]) == 2
    assert "pass --kubeconfig or set KUBECONFIG" in capsys.readouterr().err


def test_main_refuses_a_bad_flag_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--metrics-bind-address", "nowhere"]) == 2
    assert "host:port" in capsys.readouterr().err
