"""Wall time of `k8sclaw --help` and `k8sclaw version`, against `python -c pass`.

Prints medians over repeated runs and the ratio to the bare interpreter measured in the
same run (machines are noisy; ratios travel better than seconds). Target: ≤ 0.3 s.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

RUNS = 15
TARGET_S = 0.3


def _median_wall(argv: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    """Measure and print; never fails on time."""
    exe = shutil.which("k8sclaw")
    if exe is None:
        print("k8sclaw is not on PATH; run `uv sync` first", file=sys.stderr)
        return 2
    baseline = _median_wall([sys.executable, "-c", "pass"])
    print(f"python -c pass        {baseline * 1000:7.1f} ms  (baseline, median of {RUNS})")
    for args in (["--help"], ["version"]):
        wall = _median_wall([exe, *args])
        verdict = "ok" if wall <= TARGET_S else "OVER TARGET"
        label = "k8sclaw " + " ".join(args)
        print(f"{label:<21} {wall * 1000:7.1f} ms  ratio {wall / baseline:4.1f}x  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
