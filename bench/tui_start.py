"""End-to-end TUI start: process start -> first full paint of 10,000 runs served by an API.

The kube emulator runs in its own process (as the issue's measurement on a real
kube-apiserver did) holding R AgentRuns (default 10,000). The figure is the wall time from
spawning `k8sclaw -n NS --kubeconfig K` in a 120x36 pseudo-terminal until the header it
paints counts all R runs (the list is in and the table built), with the process's RSS at
that moment. Baseline in the same run: `k8sclaw runs list -n NS -o name` of the same runs
(process start -> exit), the "0.7 s" of the issue. Target: first paint <= 1.0 s.

    uv run python bench/tui_start.py [--runs 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pexpect

from bench.apiserver_api import NS, emulator, seed

_ANSI = re.compile(
    r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])"
)
DEADLINE = 120.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8SCLAW_")}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="36")
    return env


def rss_mb(pid: int) -> float:
    """Resident set size of a live process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tui_first_paint(kubeconfig: Path, runs: int) -> tuple[float, float]:
    """(seconds from spawn to the header counting every run, RSS in MB then)."""
    wanted = f"{runs} runs"
    argv = ["-m", "k8sclaw", "-n", NS, "--kubeconfig", str(kubeconfig)]
    start = time.perf_counter()
    child = pexpect.spawn(sys.executable, argv, env=_env(), encoding="utf-8", dimensions=(36, 120))
    raw = ""
    try:
        end = start + DEADLINE
        while wanted not in _ANSI.sub("", raw):
            if time.perf_counter() > end:
                raise SystemExit(f"{wanted!r} never painted; last: {_ANSI.sub('', raw)[-500:]!r}")
            try:
                raw += child.read_nonblocking(1 << 20, timeout=0.05)
            except pexpect.TIMEOUT:
                continue
        took = time.perf_counter() - start
        return took, rss_mb(child.pid)
    finally:
        child.close(force=True)


def runs_list(kubeconfig: Path) -> float:
    """Seconds for `k8sclaw runs list -o name` of the namespace, process start to exit."""
    cmd = [sys.executable, "-m", "k8sclaw", "runs", "list", "-n", NS, "-o", "name"]
    cmd += ["--kubeconfig", str(kubeconfig)]
    start = time.perf_counter()
    subprocess.run(cmd, env=_env(), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="k8sclaw-bench-") as tmp, emulator(Path(tmp)) as kc:
        print(f"seeding {args.runs} runs in the emulator (its own process)…", flush=True)
        seed(kc, args.runs)
        base = [runs_list(kc) for _ in range(args.repeat)]
        paints = [tui_first_paint(kc, args.runs) for _ in range(args.repeat)]
        paint = statistics.median(p for p, _ in paints)
        rss = max(r for _, r in paints)
        listed = statistics.median(base)
        print(f"  k8sclaw runs list -o name ({args.runs} runs): {listed:.2f} s (baseline)")
        print(f"  TUI process start -> first full paint: {paint:.2f} s, RSS {rss:.0f} MB")
        print(f"  ratio TUI first paint / runs list: {paint / listed:.2f}x (target paint <= 1.0 s)")


if __name__ == "__main__":
    main()
