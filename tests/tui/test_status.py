"""TUI `/status` and `:status`: the summary of `k8sclaw doctor` in an overlay, computed in
the overlay's own thread (the UI keeps answering), against the harness API with the
session's CRDs and no control plane installed."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from k8sclaw.kube import ClusterTarget, Kube
from k8sclaw.tui import K8sClawApp
from k8sclaw.tui._screens import TextScreen
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv
from tests.tui._seed import submit
from tests.tui.test_cluster import until


async def _overlay(pilot: Pilot[int]) -> TextScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, TextScreen), "the status overlay")
    screen = app.screen
    assert isinstance(screen, TextScreen)
    # Bounded above the doctor's own deadline (2 x 5 s per-call timeout + 1 s).
    done = lambda: any("check(s) failed" in x for x in screen.lines)  # noqa: E731
    await until(pilot, done, "the checks", tries=1500)
    return screen


async def test_slash_and_colon_status_show_the_doctor_summary(kube: KubeEnv) -> None:
    api = Kube.connect(ClusterTarget(kubeconfig=str(kube.kubeconfig)))
    app = K8sClawApp(api, namespace=kube.namespace)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/status")
            screen = await _overlay(pilot)
            assert screen.title_text.startswith(f"Status · {app.context} · ns {kube.namespace}")
            assert screen.text.startswith(f"ns:{kube.namespace} │ 0 inst │ 0 pol")
            lines = screen.lines
            assert lines[0].startswith("✓ API reachable at ")
            assert f"✓ CRDs: 5 installed and current ({names.VERSION})" in lines
            missing = "✗ controller: deployment/k8sclaw-controller is not installed"
            assert lines[lines.index(missing) + 1] == "    fix: k8sclaw install"
            assert "✗ admission webhook: not registered (policy is not enforced)" in lines
            await pilot.press("escape")
            assert not isinstance(app.screen, TextScreen)

            await pilot.press("colon")
            command = app.query_one("#command", Input)
            command.value = "status"
            await command.action_submit()
            again = await _overlay(pilot)
            assert again.lines == lines
    finally:
        api.close()
