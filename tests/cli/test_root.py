"""`k8sclaw --help` and `k8sclaw version`: fast, lazy, correct."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from k8sclaw import __version__
from k8sclaw.cli import cli, main

HEAVY = ("kubernetes", "textual", "pydantic", "nats", "questionary", "rich")


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Commands:" in result.output
    assert "version" in result.output


def test_version_text_and_json() -> None:
    runner = CliRunner()
    text = runner.invoke(cli, ["version"])
    assert text.exit_code == 0
    assert text.output.startswith(f"k8sclaw {__version__} ")
    as_json = runner.invoke(cli, ["version", "-o", "json"])
    assert json.loads(as_json.output)["version"] == __version__


def test_unknown_command_is_a_usage_error() -> None:
    assert main(["no-such-command"]) == 2


def test_no_arguments_opens_the_tui_placeholder(capsys: object) -> None:
    assert main([]) == 3


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from k8sclaw.cli import main\n"
        f"rc = main({args!r})\n"
        "print('\\n'.join(sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {line.split(".")[0] for line in proc.stderr.splitlines()}


def test_help_and_version_import_nothing_heavy() -> None:
    for args in (["--help"], ["version"]):
        loaded = _modules_after(args)
        assert not loaded & set(HEAVY), (args, loaded & set(HEAVY))
