"""Run the kube emulator as its own process: `python -m tests.harness.kube KUBECONFIG`.

Benchmarks use this so the API server does not share an interpreter (and its GIL) with
the client being measured, as kube-apiserver never does. The emulator writes a kubeconfig
for itself to KUBECONFIG, prints one line `ready <url>` on stdout, and serves until its
stdin closes or it gets SIGTERM/SIGINT (so it never outlives the process that started it).

The process runs the cyclic garbage collector less often (`GC_THRESHOLDS`): the store
keeps every object as nested dicts and lists, so the default thresholds had the collector
walk them again and again, and it took about a sixth of the emulator's CPU in a burst of
writes. Nothing else changes; the in-process emulator of the test suite keeps the defaults.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from pathlib import Path

from tests.harness.kube._emulator import CONTROLLER_BURST, CONTROLLER_QPS, KubeEmulator

GC_THRESHOLDS = (10_000, 10, 10)
"""Young-generation allocations before a collection (default 700), then the defaults."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.harness.kube", description=__doc__)
    parser.add_argument("kubeconfig", type=Path, help="where to write the emulator's kubeconfig")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument(
        "--kube-api-qps",
        type=float,
        default=CONTROLLER_QPS,
        help="writes/s of the in-process Job controller, as kube-controller-manager's flag "
        "(default %(default)s; 0 or less: unlimited)",
    )
    parser.add_argument(
        "--kube-api-burst",
        type=int,
        default=CONTROLLER_BURST,
        help="burst of that rate limit (default %(default)s)",
    )
    args = parser.parse_args(argv)
    gc.set_threshold(*GC_THRESHOLDS)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # stdin closing (the parent went away) ends the emulator too.
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    emulator = KubeEmulator(
        port=args.port, controller_qps=args.kube_api_qps, controller_burst=args.kube_api_burst
    ).start()
    try:
        emulator.write_kubeconfig(args.kubeconfig)
        print(f"ready {emulator.url}", flush=True)
        stop.wait()
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
