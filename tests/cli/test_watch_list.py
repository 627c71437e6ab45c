"""`<kind> list -w` as kubectl prints it: the list, then one line per change, until Ctrl-C.

The real `k8sclaw` process against the harness API; objects are changed with the
Kubernetes client while it watches, and SIGINT (Ctrl-C) ends it with exit 130 and no
traceback. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator

import kubernetes
import yaml
from click.testing import CliRunner

from k8sclaw.cli import cli
from k8sclaw.installer import SAMPLES_DIR
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv

DEADLINE = 30.0


class Lines:
    """The stdout of a process, line by line, read by a thread (bounded waits)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.queue.put(line.rstrip("\n"))

    def next(self) -> str:
        """The next line; fails (with what was printed) if none comes in time."""
        try:
            line = self.queue.get(timeout=DEADLINE)
        except queue.Empty:
            raise AssertionError(f"no line within {DEADLINE}s; printed: {self.seen}") from None
        self.seen.append(line)
        return line


def _api(kube: KubeEnv) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(kube.api_client)


def _instance(kube: KubeEnv, name: str) -> None:
    body = yaml.safe_load((SAMPLES_DIR / "clawinstance.yaml").read_text())
    body["metadata"]["name"] = name
    _api(kube).create_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, "clawinstances", body
    )


@contextlib.contextmanager
def watch(kube: KubeEnv, *args: str) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    """`k8sclaw instances list -w ARGS` in this test's namespace; killed if still running."""
    script = shutil.which("k8sclaw")
    assert script, "k8sclaw is not installed; run `uv sync`"
    command = [script, "instances", "list", "-w", *args, "-n", kube.namespace]
    command += ["--kubeconfig", str(kube.kubeconfig)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            yield process, Lines(process)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=DEADLINE)


def interrupted(process: subprocess.Popen[str]) -> str:
    """Ctrl-C the watch; it must exit 130 at once. Its stderr."""
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=DEADLINE) == 130
    assert process.stderr is not None
    return process.stderr.read()


def test_watch_prints_the_list_then_one_row_per_change_until_ctrl_c(kube: KubeEnv) -> None:
    _instance(kube, "alice")
    with watch(kube) as (process, lines):
        _follow_changes(kube, process, lines)


def _follow_changes(kube: KubeEnv, process: subprocess.Popen[str], lines: Lines) -> None:
    header = lines.next()
    assert header.split()[:3] == ["NAME", "PHASE", "CHANNELS"]
    assert lines.next().split()[0] == "alice"

    _instance(kube, "bob")
    added = lines.next()
    assert added.split()[0] == "bob"
    assert added.index("Pending") == header.index("PHASE")  # the first table's columns
    patch = {"spec": {"channels": []}}
    _api(kube).patch_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, "clawinstances", "alice", patch
    )
    changed = lines.next().split()
    assert changed[0] == "alice" and changed[2] == "-"  # no channels any more
    _api(kube).delete_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, "clawinstances", "bob"
    )
    assert lines.next().split()[0] == "bob"

    assert "Traceback" not in interrupted(process)


def test_watch_with_name_output_and_a_selector(kube: KubeEnv) -> None:
    """-w with -o name and -l: only matching objects, in kubectl's kind/name form."""
    _instance(kube, "alice")
    _instance(kube, "carol")
    label = {"metadata": {"labels": {"team": "red"}}}
    _api(kube).patch_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, "clawinstances", "carol", label
    )
    with watch(kube, "-o", "name", "-l", "team=red") as (process, lines):
        assert lines.next() == "clawinstance/carol"
        _api(kube).patch_namespaced_custom_object(
            names.GROUP, names.API_VERSION, kube.namespace, "clawinstances", "alice", label
        )
        assert lines.next() == "clawinstance/alice"  # now matches: ADDED to the selection
        assert "Traceback" not in interrupted(process)


def test_watch_is_offered_on_every_list_command() -> None:
    for group in ("instances", "runs", "policies", "skills", "schedules"):
        text = CliRunner().invoke(cli, [group, "list", "--help"]).stdout
        assert "-w, --watch" in text, group
