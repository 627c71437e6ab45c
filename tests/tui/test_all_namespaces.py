"""-A / `:ns all` (k9s's all-namespaces mode) against the harness API: every namespace
watched, actions on an object use the object's own namespace, creating needs one."""

from __future__ import annotations

from click.testing import CliRunner

from k8sclaw.cli import cli
from k8sclaw.tui import K8sClawApp
from k8sclaw.tui._screens import TextScreen
from tests.harness.kube import KubeEnv
from tests.tui._seed import submit
from tests.tui.test_cluster import _colon, connect, names_shown, post_event, seed_cluster, until
from tests.tui.test_offline import cells


def _message(app: K8sClawApp) -> str:
    return str(app.query_one("#message").render())


async def test_all_namespaces_watches_everything_and_acts_in_the_objects_namespace(
    kube: KubeEnv,
) -> None:
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    post_event(api, kube.namespace, "alpha.1", "Reconciled", "instance ready")
    app = K8sClawApp(api, namespace="")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: "alpha" in [r[1] for r in cells(app)], "alpha, its namespace")
        assert "ns:all" in str(app.query_one("#header").render())
        assert app.table.headers[:2] == ("NAMESPACE", "NAME")  # kubectl's -A column
        assert [kube.namespace, "alpha"] in [row[:2] for row in cells(app)]
        app.table.select_key(
            next(
                k
                for k, o in app.store.objects["instances"].items()
                if o.namespace == kube.namespace
            )
        )
        await pilot.press("d")  # describe's Events: read in alpha's own namespace
        described = app.screen
        assert isinstance(described, TextScreen)
        await until(pilot, lambda: any("instance ready" in x for x in described.lines), "events")
        await pilot.press("escape", "O")
        assert "onboarding needs one namespace: :ns NAME first" in _message(app)
        await submit(pilot, "/ns")
        assert "namespace: all (-A)" in _message(app)
        await _colon(pilot, f"ns {kube.namespace}")
        await until(pilot, lambda: names_shown(app) == ["alpha"], "one namespace again")
        assert app.table.headers[0] == "NAME"
        await _colon(pilot, "ns all")
        assert app.all_namespaces and "ns:all" in str(app.query_one("#header").render())


def test_root_all_namespaces_is_the_default_of_list_commands(kube: KubeEnv) -> None:
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    api.close()
    result = CliRunner().invoke(
        cli, ["-A", "instances", "list", "--kubeconfig", str(kube.kubeconfig)]
    )
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:2] == ["NAMESPACE", "NAME"]
    assert [kube.namespace, "alpha"] in [r.split()[:2] for r in rows]
