"""Controller manager figures in one run (printed, never asserted).

  (a) median latency AgentRun created -> its Job created              (target <= 100 ms)
  (b) N AgentRuns created at once until all have Jobs and are Running, as a ratio to a
      bare loop creating N Jobs with the same client in the same run    (target <= 1.5x):
      the running controller is held (SIGSTOP) while the runs are created and the clock
      starts when it continues; also printed, the stricter variant where the clock starts
      at the first create and the controller works while this client creates the runs,
      and the CPU seconds the emulator, the controller and this client spent in each
  (c) controller RSS with M AgentRuns present                          (target <= 250 MB)
  (d) S ClawSchedules ticking the same minute -> all S runs created, as a ratio to this
      client creating S AgentRuns one by one                          (target <= 1.5x):
      the schedules (cron `* * * * *`, Allow) are created and the controller has reported
      every one's nextScheduleTime; the clock starts at the latest of those ticks (wall
      time) and stops when the last run of that tick is ADDED (each tick still consults
      the schedule's runs, for adoption and history, as under Forbid)

The controller runs as its own process (`k8sclaw-controller`); the API server is the kube
emulator on 127.0.0.1, or a real cluster with K8SCLAW_TEST_KUBECONFIG / --kubeconfig. The
emulator's Job controller makes pods at kube-controller-manager's default client rate
(--kube-api-qps 20, --kube-api-burst 30), as a real control plane does: the pods of the
bare Jobs and of the runs' Jobs trickle in at that pace and are not waited for.

    uv run python bench/controller.py [--runs 1000] [--present 10000] [--latency 30]
                                      [--schedules 1000] [--only-d]
"""

from __future__ import annotations

import argparse
import calendar
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import kubernetes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.kube import api_client  # noqa: E402
from tests.harness.kube_fixtures import install_crds  # noqa: E402

GROUP, VERSION = "k8sclaw.io", "v1alpha1"
EMULATOR_PID: list[int] = []  # the emulator process this bench started, if any


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one when `pid` is None)."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AgentRun",
        "metadata": {"name": name, "labels": {"k8sclaw.io/instance": "bench"}},
        "spec": {
            "instanceRef": "bench",
            "sessionKey": name,
            "task": "bench",
            "model": {"provider": "openai", "model": "gpt-4o"},
            "timeout": "1h",
        },
    }


def job_body(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox:1"}],
                }
            },
        },
    }


class Cluster:
    """One namespace with the bench instance, and typed API handles."""

    def __init__(self, client: kubernetes.client.ApiClient, kubeconfig: Path) -> None:
        self.client, self.kubeconfig = client, kubeconfig
        self.core = kubernetes.client.CoreV1Api(client)
        self.batch = kubernetes.client.BatchV1Api(client)
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.namespaces: list[str] = []

    def namespace(self) -> str:
        name = f"bench-{secrets.token_hex(3)}"
        self.core.create_namespace({"metadata": {"name": name}})
        self.namespaces.append(name)
        self.custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            name,
            "clawinstances",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ClawInstance",
                "metadata": {"name": "bench"},
                "spec": {"agents": {"default": {"model": "gpt-4o"}}},
            },
        )
        return name

    def create_run(self, namespace: str, name: str) -> None:
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "agentruns", run_body(name)
        )

    def cleanup(self) -> None:
        for name in self.namespaces:
            with suppress(kubernetes.client.ApiException):
                self.core.delete_namespace(name)


@contextmanager
def emulator_process() -> Iterator[Path]:
    """The kube emulator in its own process (`python -m tests.harness.kube`), as a real
    API server would be: it must not share this interpreter's GIL with the client being
    timed. Yields its kubeconfig; stopped (stdin closed, then SIGTERM) at the end."""
    kubeconfig = Path(tempfile.mkdtemp()) / "kubeconfig"
    argv = [sys.executable, "-m", "tests.harness.kube", str(kubeconfig)]
    with subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            if not line.startswith("ready "):
                raise RuntimeError(f"the kube emulator did not start (exit {proc.poll()})")
            EMULATOR_PID.append(proc.pid)
            yield kubeconfig
        finally:
            EMULATOR_PID.clear()
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def controller(cluster: Cluster, namespace: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    exe = shutil.which("k8sclaw-controller") or "k8sclaw-controller"
    argv = [
        exe,
        "-n",
        namespace,
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--event-bus-url",
        "",
        "--history-limit",
        "100000",
        "--metrics-bind-address",
        f"127.0.0.1:{port}",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s")


def reconciled(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith('k8sclaw_controller_reconciles_total{kind="AgentRun"}'):
                return float(line.split()[-1])
    return 0.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def job_latency(cluster: Cluster, count: int) -> list[float]:
    """Seconds from AgentRun create to the Job's ADDED event, one run at a time."""
    namespace = cluster.namespace()
    seen: dict[str, float] = {}
    arrived = threading.Condition()

    def watch_jobs() -> None:
        watch = kubernetes.watch.Watch()
        for event in watch.stream(
            cluster.batch.list_namespaced_job, namespace, timeout_seconds=600
        ):
            with arrived:
                seen.setdefault(event["object"].metadata.name, time.perf_counter())
                arrived.notify_all()
            if len(seen) >= count:
                watch.stop()

    samples = []
    with controller(cluster, namespace, free_port()):
        threading.Thread(target=watch_jobs, daemon=True).start()
        time.sleep(0.5)  # let the watch open before the first create
        for i in range(count):
            name = f"lat-{i:03d}"
            start = time.perf_counter()
            cluster.create_run(namespace, name)
            with arrived:
                arrived.wait_for(lambda n=name: n in seen, timeout=30)
            samples.append(seen.get(name, float("nan")) - start)
    return samples


def burst(cluster: Cluster, count: int) -> tuple[float, float, float]:
    """(bare loop creating `count` Jobs, `count` runs created at once until all Running,
    the same while the runs are being created one by one)."""
    base_ns = cluster.namespace()
    start = time.perf_counter()
    for i in range(count):
        cluster.batch.create_namespaced_job(base_ns, job_body(f"bare-{i:04d}"))
    bare = time.perf_counter() - start
    at_once = _timed_runs(cluster, count, at_once=True)
    streamed = _timed_runs(cluster, count, at_once=False)
    return bare, at_once, streamed


def _timed_runs(cluster: Cluster, count: int, *, at_once: bool) -> float:
    """Seconds until `count` new AgentRuns all have Jobs and are Running.

    at_once: the controller (running, synced) is stopped with SIGSTOP while the runs are
    created, then continued; the clock starts at SIGCONT. It meets all `count` runs at
    once, as after `kubectl apply` of a 1,000-run file, and the time is the controller's
    own (with the API server it shares this machine with).
    Otherwise the clock starts at the first create and the controller works while this
    client creates the runs one by one, competing with it for the 2 cores and the API
    server's one thread: the client's creates are part of the time.
    """
    namespace = cluster.namespace()
    label = "at once" if at_once else "while being created"
    with controller(cluster, namespace, free_port()) as proc:
        pids = {"emulator": EMULATOR_PID[0] if EMULATOR_PID else None, "controller": proc.pid}
        if at_once:
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                _create_runs(cluster, namespace, count)
            finally:
                cpu = _cpu_now(pids)
                start = time.perf_counter()
                os.kill(proc.pid, signal.SIGCONT)
        else:
            cpu = _cpu_now(pids)
            start = time.perf_counter()
            _create_runs(cluster, namespace, count)
        until_running(cluster, namespace, count)
        elapsed = time.perf_counter() - start
        used = {who: cpu_seconds(pids.get(who)) - was for who, was in cpu.items()}
        print(
            f"    ({label}: CPU "
            + ", ".join(f"{w} {t:.2f} s" for w, t in used.items())
            + f"; {elapsed:.2f} s)"
        )
        jobs = len(cluster.batch.list_namespaced_job(namespace).items)
    assert jobs == count, f"{jobs} Jobs for {count} runs"
    return elapsed


def _create_runs(cluster: Cluster, namespace: str, count: int) -> None:
    for i in range(count):
        cluster.create_run(namespace, f"burst-{i:04d}")


def _cpu_now(pids: dict[str, int | None]) -> dict[str, float]:
    return {who: cpu_seconds(pid) for who, pid in pids.items() if pid} | {"bench": cpu_seconds()}


def until_running(cluster: Cluster, namespace: str, count: int) -> None:
    """Return once `count` AgentRuns are Running: one LIST (by the time the creates return
    the runs are mostly started), then a watch from the list's resourceVersion for the
    rest. The cheapest observation, so the bench's own decoding is barely billed."""
    listing = cluster.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "agentruns")
    running = {
        obj["metadata"]["name"]
        for obj in listing["items"]
        if (obj.get("status") or {}).get("phase") == "Running"
    }
    if len(running) >= count:
        return
    watch = kubernetes.watch.Watch()
    for event in watch.stream(
        cluster.custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "agentruns",
        resource_version=listing["metadata"]["resourceVersion"],
        timeout_seconds=1800,
    ):
        obj = event["object"]
        if (obj.get("status") or {}).get("phase") == "Running":
            running.add(obj["metadata"]["name"])
        if len(running) >= count:
            watch.stop()


def rss_with(cluster: Cluster, count: int) -> float:
    """Controller RSS (MiB) after it has seen `count` terminal AgentRuns."""
    namespace = cluster.namespace()

    def make(i: int) -> None:
        name = f"present-{i:05d}"
        cluster.create_run(namespace, name)
        cluster.custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            "agentruns",
            name,
            {
                "status": {
                    "phase": "Succeeded",
                    "result": "x" * 200,
                    "completedAt": "2026-01-01T00:00:00Z",
                }
            },
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, range(count)))
    port = free_port()
    with controller(cluster, namespace, port) as proc:
        deadline = time.monotonic() + 600
        while reconciled(port) < count and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)
        status = Path(f"/proc/{proc.pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return kib / 1024


def schedule_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClawSchedule",
        "metadata": {"name": name},
        "spec": {
            "instanceRef": "bench",
            "schedule": "* * * * *",
            "task": "bench",
            # Allow: a schedule whose first reconcile fell after the shared minute fires a
            # minute later with the rest, instead of skipping behind its own active run.
            "concurrencyPolicy": "Allow",
        },
    }


def schedules_tick(cluster: Cluster, count: int) -> tuple[float, float]:
    """(seconds for this client to create `count` AgentRuns, seconds from a shared tick of
    `count` schedules until all their runs exist)."""
    plain_ns = cluster.namespace()
    start = time.perf_counter()
    _create_runs(cluster, plain_ns, count)
    plain = time.perf_counter() - start
    namespace = cluster.namespace()
    for i in range(count):
        cluster.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "clawschedules", schedule_body(f"tick-{i:04d}")
        )
    with controller(cluster, namespace, free_port()):
        tick = _common_tick(cluster, namespace, count)
        suffix = f"-{int(tick)}"
        time.sleep(max(tick - time.time(), 0.0))
        last = _last_added(cluster, namespace, count, suffix)
    return plain, last - tick


def _common_tick(cluster: Cluster, namespace: str, count: int) -> float:
    """The Unix time of the tick every schedule waits for, once each reports one."""
    nexts: dict[str, str] = {}
    for event in kubernetes.watch.Watch().stream(
        cluster.custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "clawschedules",
        timeout_seconds=600,
    ):
        obj = event["object"]
        if upcoming := (obj.get("status") or {}).get("nextScheduleTime"):
            nexts[obj["metadata"]["name"]] = upcoming
        if len(nexts) >= count:
            break
    latest = max(nexts.values())
    return float(calendar.timegm(time.strptime(latest, "%Y-%m-%dT%H:%M:%SZ")))


def _last_added(cluster: Cluster, namespace: str, count: int, suffix: str) -> float:
    """Wall time when the `count`-th run named `*<suffix>` was seen."""
    seen: set[str] = set()
    for event in kubernetes.watch.Watch().stream(
        cluster.custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "agentruns",
        label_selector="k8sclaw.io/component=scheduler",
        timeout_seconds=900,
    ):
        name = event["object"]["metadata"]["name"]
        if name.endswith(suffix):
            seen.add(name)
        if len(seen) >= count:
            return time.time()
    raise TimeoutError(f"only {len(seen)} of {count} scheduled runs appeared")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--present", type=int, default=10000)
    parser.add_argument("--latency", type=int, default=30)
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--only-d", action="store_true", help="Measure (d) only.")
    parser.add_argument("--kubeconfig", default=os.environ.get("K8SCLAW_TEST_KUBECONFIG"))
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.kubeconfig:
            kubeconfig, where = Path(args.kubeconfig), "real API server"
        else:
            kubeconfig = stack.enter_context(emulator_process())
            where = "kube emulator (its own process)"
        measure(args, kubeconfig, where)


def _measure_abc(cluster: Cluster, args: argparse.Namespace) -> None:
    lat = job_latency(cluster, args.latency)
    print(
        f"(a) AgentRun -> Job median latency   {statistics.median(lat) * 1000:8.1f} ms "
        f"(p90 {sorted(lat)[int(len(lat) * 0.9) - 1] * 1000:.1f} ms, n={len(lat)})"
    )
    bare, at_once, streamed = burst(cluster, args.runs)
    print(
        f"(b) {args.runs} runs created at once -> Jobs + Running  {at_once:6.2f} s vs bare "
        f"{args.runs} Job creates {bare:.2f} s = {at_once / bare:.2f}x"
    )
    print(
        f"    the same while this client creates them one by one  {streamed:6.2f} s "
        f"= {streamed / bare:.2f}x"
    )
    rss = rss_with(cluster, args.present)
    print(f"(c) controller RSS with {args.present} AgentRuns  {rss:8.1f} MiB")


def measure(args: argparse.Namespace, kubeconfig: Path, where: str) -> None:
    client = api_client(kubeconfig)
    install_crds(client)
    cluster = Cluster(client, kubeconfig)
    print(f"controller bench against the {where}")
    try:
        if not args.only_d:
            _measure_abc(cluster, args)
        plain, ticked = schedules_tick(cluster, args.schedules)
        print(
            f"(d) {args.schedules} schedules ticking together -> all runs created "
            f"{ticked:6.2f} s vs {args.schedules} plain run creates {plain:.2f} s "
            f"= {ticked / plain:.2f}x"
        )
    finally:
        cluster.cleanup()
        client.close()


if __name__ == "__main__":
    main()
