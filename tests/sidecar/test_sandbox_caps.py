"""The sandbox executor's caps hold (issue #13 item 9): output is read incrementally and
dropped past the cap, so memory stays bounded; on timeout, and when a command ends,
its whole process tree dies, sessions that escaped with setsid included."""

from __future__ import annotations

import resource
from pathlib import Path

from k8sclaw_protocol import ExecRequest
from k8sclaw_sidecar.sandbox import run_command

MB = 1024 * 1024


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] != b"Z"


def _pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()]


async def test_huge_output_is_capped_and_memory_stays_bounded(tmp_path: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = await run_command(
        ExecRequest(id="big", command="head -c 300000000 /dev/zero; echo done >&2", timeout=120),
        tmp_path,
        cap=1000,
    )
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert result.exit_code == 0 and not result.timed_out
    assert result.stdout.startswith("\0" * 1000) and "truncated at 1000 bytes" in result.stdout
    assert len(result.stdout) < 1100
    assert result.stderr == "done\n"  # both streams drained concurrently, nothing stuck
    assert grown < 100 * MB, f"the executor's peak RSS grew by {grown / MB:.0f} MB"


async def test_timeout_kills_the_tree_and_escaped_sessions(tmp_path: Path) -> None:
    command = (
        "setsid sh -c 'echo $$ >> pids; exec sleep 1000' & "
        "(sh -c 'echo $$ >> pids; exec sleep 1000' &) ; "
        "echo $$ >> pids; sleep 1000"
    )  # the timeout (5 s) is long enough on a loaded machine for all three to be written
    result = await run_command(ExecRequest(id="t", command=command, timeout=5), tmp_path)
    assert result.timed_out and result.exit_code == 124
    pids = _pids(tmp_path / "pids")
    assert len(pids) == 3
    assert [p for p in pids if _alive(p)] == []


async def test_background_children_do_not_outlive_a_finished_command(tmp_path: Path) -> None:
    command = (
        "setsid sh -c 'echo $$ > pids; exec sleep 1000' > /dev/null 2>&1 & "
        "while [ ! -s pids ]; do sleep 0.05; done; echo started"
    )
    result = await run_command(ExecRequest(id="bg", command=command, timeout=60), tmp_path)
    assert (result.exit_code, result.stdout, result.timed_out) == (0, "started\n", False)
    [pid] = _pids(tmp_path / "pids")
    assert not _alive(pid)


async def test_exit_status_and_signals_are_reported(tmp_path: Path) -> None:
    assert (await run_command(ExecRequest(id="x", command="exit 7"), tmp_path)).exit_code == 7
    killed = await run_command(ExecRequest(id="k", command="kill -9 $$"), tmp_path)
    assert (killed.exit_code, killed.timed_out) == (137, False)
    fed = await run_command(ExecRequest(id="in", command="cat", stdin="hello"), tmp_path)
    assert fed.stdout == "hello"
