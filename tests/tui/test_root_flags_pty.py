"""k9s habits on the root command, in a real terminal: `k8sclaw -n NS --readonly
--kubeconfig F` and `k8sclaw -A` open the TUI there (header, help screen, quit)."""

from __future__ import annotations

import os
import re
import sys
import time

import pexpect

from k8sclaw.kube import ClusterTarget, Kube
from tests.harness.kube import KubeEnv
from tests.tui import _seed

DEADLINE = 30.0
_ANSI = re.compile(
    r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])"
)


class Terminal:
    """A pseudo-terminal running `k8sclaw`; what it painted, escape sequences removed."""

    def __init__(self, kube: KubeEnv, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("K8SCLAW_")}
        env.update(TERM="xterm-256color", COLUMNS="120", LINES="36")
        env.pop("KUBECONFIG", None)  # only the flag names the cluster
        argv = ["-m", "k8sclaw", *args, "--kubeconfig", str(kube.kubeconfig)]
        self.child = pexpect.spawn(
            sys.executable, argv, env=env, encoding="utf-8", timeout=5, dimensions=(36, 120)
        )
        self.raw = ""

    @property
    def text(self) -> str:
        return _ANSI.sub("", self.raw)

    def wait_for(self, wanted: str) -> None:
        """Read until `wanted` was painted (bounded by DEADLINE)."""
        end = time.monotonic() + DEADLINE
        while wanted not in self.text:
            if time.monotonic() > end:
                raise AssertionError(f"{wanted!r} never painted; last: {self.text[-1500:]!r}")
            try:
                self.raw += self.child.read_nonblocking(65536, timeout=0.5)
            except pexpect.TIMEOUT:
                continue

    def quit(self) -> int:
        """q, then the exit status."""
        self.child.send("q")
        self.child.expect(pexpect.EOF, timeout=DEADLINE)
        self.child.close()
        return int(self.child.exitstatus or 0)


def test_n_and_readonly_open_the_tui_in_that_namespace(kube: KubeEnv) -> None:
    api = Kube.connect(ClusterTarget(kubeconfig=str(kube.kubeconfig)))
    api.create(_seed.instance("alpha", kube.namespace))
    api.close()
    term = Terminal(kube, "-n", kube.namespace, "--readonly")
    try:
        term.wait_for(f"ns:{kube.namespace}")
        term.wait_for("alpha")
        term.raw = ""
        term.child.send("?")
        term.wait_for("(hidden: --readonly)")
        assert re.search(r"Delete\s+\(hidden: --readonly\)", term.text)
        term.raw = ""
        term.child.send("q")  # closes the help (a lone Esc waits for an escape sequence)
        term.wait_for("Describe")  # the table's footer, painted again
        assert term.quit() == 0
    finally:
        term.child.close(force=True)


def test_all_namespaces_opens_the_tui_on_every_namespace(kube: KubeEnv) -> None:
    api = Kube.connect(ClusterTarget(kubeconfig=str(kube.kubeconfig)))
    api.create(_seed.instance("alpha", kube.namespace))
    api.close()
    term = Terminal(kube, "-A")
    try:
        term.wait_for("ns:all")
        term.wait_for("alpha")
        assert term.quit() == 0
    finally:
        term.child.close(force=True)
