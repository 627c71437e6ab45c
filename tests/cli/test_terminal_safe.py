"""Agent-written text reaches the terminal without controls (issue #13 item 14): the one
function (`k8sclaw.render.terminal_safe`) and each CLI display path that uses it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from k8sclaw.cli import _output, _runs
from k8sclaw.cli._errors import CliError
from k8sclaw.cli._logs import AnswerPrinter
from k8sclaw.render import WIRE_RENDERERS, renderer_for, terminal_safe
from k8sclaw_protocol import AgentResult, AgentRun, ipc
from tests.tui import _seed

OSC52_BEL = "\x1b]52;c;cm0gLXJmIH4K\x07"  # writes "rm -rf ~" into the clipboard
OSC52_ST = "\x1b]52;c;cm0gLXJmIH4K\x1b\\"
HOSTILE = (
    f"safe{OSC52_BEL}{OSC52_ST}\x1b[2J\x1b[31mred\x1b[0m\rover\x9b1;1H\x9d0;t\x9c\x07\x00\x7f!"
)
CLEAN = "saferedover!"  # what is left: the printable text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (OSC52_BEL + "after", "after"),
        (OSC52_ST + "after", "after"),
        ("\x1b]0;title", ""),  # unterminated: swallowed to the end, as a terminal would
        ("\x1bP1$r\x1b\\x", "x"),  # DCS
        ("\x1b[38;5;196mcolour\x1b[0m", "colour"),
        ("\x9b2Jeight-bit", "eight-bit"),
        ("\x1bcreset", "reset"),  # ESC c: full terminal reset
        ("line\r\nnext\ttab", "line\nnext\ttab"),
        ("progress 10%\rprogress 99%", "progress 10%progress 99%"),
        ("bell\x07back\x08space\x7f", "bellbackspace"),
        ("ünïcödé ✓ 日本", "ünïcödé ✓ 日本"),
        (HOSTILE, CLEAN),
    ],
)
def test_sequences_go_whole_and_controls_other_than_newline_and_tab_go(
    raw: str, shown: str
) -> None:
    assert terminal_safe(raw) == shown


CONTROL = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]} - {"\n", "\t"}


@given(st.text(alphabet=st.sampled_from(sorted(CONTROL)) | st.characters(), max_size=200))
def test_no_control_survives_any_input(text: str) -> None:
    safe = terminal_safe(text)
    assert not CONTROL & set(safe)
    assert terminal_safe(safe) == safe  # idempotent: nothing left to strip


def _marker(response: str) -> str:
    return ipc.result_line(AgentResult(status="success", response=response)) + "\n"


def test_runs_logs_strips_what_the_agent_printed(capsys: pytest.CaptureFixture[str]) -> None:
    printer = AnswerPrinter()
    log = "2025-01-02 03:04:05,678 agent WARNING k8sclaw.agent: "
    for piece in (f"ans{OSC52_BEL}wer\r\n", "→ to\x1b[8mol\n", f"{log}x\x1b]52;c;eA==\x07y\n"):
        printer.feed(piece)
    printer.feed(_marker(f"final{OSC52_ST} one"))
    printer.close()
    out, err = capsys.readouterr()
    assert out == "answer\n→ tool\nfinal one\n"
    assert err == f"{log}xy\n"


def _run(phase: str, result: str = "", error: str = "") -> AgentRun:
    run = _seed.run(_seed.instance("alpha"), "r1", "task", phase=phase, result=result)
    if error:
        assert run.status is not None
        run.status.error = error
    return run


def test_run_follow_prints_a_terminal_safe_result(capsys: pytest.CaptureFixture[str]) -> None:
    _runs._finish(_run("Succeeded", result=f"done{OSC52_BEL}\r!"))
    assert capsys.readouterr().out == "done!\n"


def test_a_failed_run_reports_a_terminal_safe_error() -> None:
    with pytest.raises(CliError) as caught:
        _runs._finish(_run("Failed", error=f"boom{OSC52_ST}\x1b[1A\x1b[2K"))
    assert caught.value.message == "agentrun/r1 failed: boom"


def test_get_cells_and_yaml_json_output_carry_no_escape() -> None:
    run = _run("Succeeded", result=f"x{OSC52_BEL}")
    run.metadata.labels["k8sclaw.io/component"] = "c\x1b]52;c;eA==\x07li\rx"
    now = datetime.now(UTC)
    cells = renderer_for(AgentRun).row(run, wide=True, now=now)
    wire_cells = WIRE_RENDERERS["AgentRun"].row(run.to_wire(), wide=True, now=now)
    for cell in (*cells, *wire_cells):
        assert not CONTROL & set(cell), cell
    assert "clix" in cells
    for text in (_output.dump_yaml(run.to_wire()), json.dumps(run.to_wire(), indent=2)):
        assert "\x1b" not in text and "\x07" not in text
    assert yaml.safe_load(_output.dump_yaml(run.to_wire()))["status"]["result"] == f"x{OSC52_BEL}"
