"""Errors a new user meets before any cluster exists: one line + hint, exit code, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from k8sclaw.cli import cli


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _assert_one_line_error(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stderr, result.stdout)
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), (
        lines
    )
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kubeconfig(tmp_path: Path, server: str, namespace: str = "team-a") -> Path:
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
        f"contexts: [{{name: ctx, context: {{cluster: c, user: u, namespace: {namespace}}}}}]\n"
        "current-context: ctx\n"
        "users: [{name: u, user: {token: t0ken}}]\n"
    )
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "list"],
        ["instances", "get", "x"],
        ["run", "hello"],
        ["features", "list", "--policy", "p"],
        ["install"],
        ["uninstall", "--yes"],
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_no_kubeconfig(args: list[str]) -> None:
    _assert_one_line_error(_invoke(*args), 3, "no kubeconfig found", "--kubeconfig")


def test_unknown_context(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path, "https://127.0.0.1:1")
    result = _invoke("runs", "list", "--kubeconfig", str(config), "--context", "nope")
    _assert_one_line_error(result, 3, "context 'nope' not found", "known: ctx")


def test_unreachable_cluster(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path, f"https://127.0.0.1:{_closed_port()}")
    result = _invoke("runs", "list", "--kubeconfig", str(config))
    _assert_one_line_error(result, 4, "cannot reach the Kubernetes API", "kubectl cluster-info")


def test_kubeconfig_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "KUBECONFIG", str(_kubeconfig(tmp_path, f"http://127.0.0.1:{_closed_port()}"))
    )
    _assert_one_line_error(_invoke("instances", "list"), 4, "http://127.0.0.1:")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["runs", "list", "-o", "foo"], "'foo' is not one of"),
        (["features", "enable", "telepathy", "--policy", "p"], "'telepathy' is not one of"),
        (["runs", "get"], "Missing argument 'NAME'"),
    ],
    ids=["bad-output", "bad-feature", "missing-arg"],
)
def test_usage_errors_are_one_line(args: list[str], needle: str) -> None:
    _assert_one_line_error(_invoke(*args), 2, needle, "--help`")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    result = _invoke("completion", shell)
    assert result.exit_code == 0 and "_K8SCLAW_COMPLETE" in result.stdout


def test_malformed_kubeconfig_names_the_file_and_line(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path, "https://127.0.0.1:1")
    config.write_text(config.read_text() + "  users: [{name: u\n")
    lines = config.read_text().splitlines()
    result = _invoke("runs", "list", "--kubeconfig", str(config))
    _assert_one_line_error(result, 3, f"kubeconfig {config} is not valid YAML", "fix ")
    assert f"line {len(lines)}," in result.stderr
    assert "unexpected" not in result.stderr and "report it" not in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["runz", "list"], "No such command 'runz'. Did you mean 'run"),
        (["runs", "lst"], "No such command 'lst'. Did you mean 'list'?"),
        (["featurs"], "Did you mean 'features'?"),
        (["features", "enabel"], "Did you mean 'enable'?"),
    ],
)
def test_unknown_command_suggests_the_closest(args: list[str], needle: str) -> None:
    _assert_one_line_error(_invoke(*args), 2, needle)


def test_features_enable_names_the_argument_and_the_closest_gate() -> None:
    result = _invoke("features", "enable", "code-exec", "--policy", "p")
    _assert_one_line_error(result, 2, "'FEATURE'", "Did you mean 'code-execution'?")
    assert "{" not in result.stderr  # not click's {a|b|c} metavar


@pytest.mark.parametrize("command", [["run", "hi"], ["runs", "create", "hi"]])
def test_a_bad_timeout_is_explained_in_words(command: list[str]) -> None:
    result = _invoke(*command, "--timeout", "5x")
    _assert_one_line_error(result, 2, "use a duration like 30s, 5m, 1h")
    assert "^(" not in result.stderr  # no regular expression


def test_help_spells_plurals() -> None:
    text = _invoke("policies", "--help").stdout + _invoke("policies", "list", "--help").stdout
    assert "ClawPolicies" in text and "Policys" not in text


def test_root_takes_k9s_flags_for_the_tui(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path, "https://127.0.0.1:1")
    result = _invoke("-n", "team-b", "--readonly", "--kubeconfig", str(config), "--context", "no")
    assert result.exit_code == 3, result.output
    assert "context 'no' not found" in result.stderr and "hint: " in result.stderr
    assert "No such option" not in result.stderr


def test_root_flags_are_the_defaults_of_the_command(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path, "https://127.0.0.1:1")
    result = _invoke("--kubeconfig", str(config), "--context", "nope", "runs", "list")
    _assert_one_line_error(result, 3, "context 'nope' not found")
