"""The local transcript store and `runs logs|list --local` over it (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from k8sclaw.cli import cli
from k8sclaw.local import Transcripts
from k8sclaw.local._store import ENTRY_CAP


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Transcripts:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    return Transcripts()


def test_logs_show_the_named_run_safely_and_an_unstreamed_answer(store: Transcripts) -> None:
    first = store.begin("local-a", "first task", "m")
    first.add("text", "streamed \x1b[31manswer\n")
    first.finish("Succeeded", "streamed answer")
    second = store.begin("local-b", "second\x1b]0;x\x07 task", "m")
    second.add("tool", "→ list_directory: /workspace")
    second.finish("Succeeded", "not streamed")
    runner = CliRunner()

    last = runner.invoke(cli, ["runs", "logs", "--local"], catch_exceptions=False)
    assert last.stdout == "→ list_directory: /workspace\nnot streamed\n"
    named = runner.invoke(cli, ["runs", "logs", "--local", "local-a"], catch_exceptions=False)
    assert "\x1b" not in named.stdout and named.stdout.count("answer") == 1
    listed = runner.invoke(cli, ["runs", "list", "--local"], catch_exceptions=False)
    assert listed.stdout.index("local-b") < listed.stdout.index("local-a")
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    missing = runner.invoke(cli, ["runs", "logs", "--local", "nope"])
    assert missing.exit_code == 7 and 'local run "nope" not found' in missing.stderr


def test_entries_are_capped_in_bytes(store: Transcripts) -> None:
    writer = store.begin("local-big", "t", "m")
    writer.add("text", "é" * ENTRY_CAP)
    writer.finish("Succeeded", None)
    [(_, text)] = list(store.entries("local-big"))
    assert len(text.encode()) <= ENTRY_CAP
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"
