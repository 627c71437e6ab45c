"""Pilot tests against the kube API (emulator or real cluster) with seeded objects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from textual.pilot import Pilot
from textual.widgets import Input

from k8sclaw.kube import ClusterTarget, Kube, NotFoundError
from k8sclaw.tui import K8sClawApp
from k8sclaw.tui._screens import ConfirmScreen, OnboardScreen, TextScreen
from k8sclaw.tui._table import ResourceTable
from k8sclaw.tui._watch import Backoff
from k8sclaw_protocol import AgentRun, ClawInstance, ClawPolicy, names
from tests.harness.kube import KubeEnv
from tests.tui import _seed
from tests.tui._proxy import Proxy
from tests.tui._seed import submit


def connect(kubeconfig: Path) -> Kube:
    return Kube.connect(ClusterTarget(kubeconfig=str(kubeconfig)))


async def until(
    pilot: Pilot[int], cond: Callable[[], bool], what: str, *, tries: int = 500
) -> None:
    """Let the app process worker messages until `cond` holds (bounded: `tries` x >= 20 ms)."""
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.02)
    message = pilot.app.query_one("#message").render() if pilot.app.screen_stack else ""
    raise AssertionError(f"timed out waiting for {what}; last message: {message}")


def names_shown(app: K8sClawApp) -> list[str]:
    table = app.query_one(ResourceTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def seed_cluster(kube: Kube, ns: str) -> ClawInstance:
    inst = kube.create(_seed.instance("alpha", ns))
    kube.create(
        ClawPolicy.from_wire(
            {
                **_seed.policy("default-policy", ns).to_wire(),
                "metadata": {"name": "default-policy", "namespace": ns},
            }
        )
    )
    return inst


async def test_watch_shows_objects_and_slash_run_creates_labelled_run(kube: KubeEnv) -> None:
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    app = K8sClawApp(api, namespace=kube.namespace)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: names_shown(app) == ["alpha"], "seeded instance")
        await submit(pilot, "/run -- say hello")
        await until(pilot, lambda: bool(app.store.all("runs")), "the new run in the store")
        runs = await asyncio.to_thread(api.list, AgentRun, kube.namespace)
        assert len(runs) == 1 and runs[0].spec.task == "say hello"
        labels = runs[0].metadata.labels
        assert labels[names.LABEL_INSTANCE] == "alpha" and labels[names.LABEL_COMPONENT] == "tui"
        await submit(pilot, "/run alpha second task")
        await until(pilot, lambda: len(app.store.all("runs")) == 2, "second run")
        assert {r.spec.task for r in app.store.all("runs")} == {"say hello", "second task"}
        await pilot.press("R")
        assert app.view.name == "runs"
        assert app.query_one("#command").value == "/run alpha "  # type: ignore[attr-defined]
        await pilot.press("escape")
        # the instance created a policy binding: /features on a live policy
        await submit(pilot, "/features default-policy")
        assert "code-execution=on" in str(app.query_one("#message").render())


async def test_delete_asks_first_escape_cancels_y_deletes(kube: KubeEnv) -> None:
    api = connect(kube.kubeconfig)
    inst = seed_cluster(api, kube.namespace)
    api.create(_seed.run(inst, "alpha-run-x", "t").model_copy(update={"status": None}))
    app = K8sClawApp(api, namespace=kube.namespace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await until(pilot, lambda: names_shown(app) == ["alpha-run-x"], "seeded run")
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        assert "delete cancelled" in str(app.query_one("#message").render())
        assert await asyncio.to_thread(api.get, AgentRun, "alpha-run-x", kube.namespace)
        await pilot.press("x", "y")
        await until(pilot, lambda: names_shown(app) == [], "row removed by the watch")
        try:
            await asyncio.to_thread(api.get, AgentRun, "alpha-run-x", kube.namespace)
        except NotFoundError:
            pass
        else:
            raise AssertionError("run still exists after delete")
        await submit(pilot, "/delete policy default-policy", "y")
        await until(pilot, lambda: not app.store.all("policies"), "policy deleted")


async def test_abort_result_describe_and_events(kube: KubeEnv) -> None:
    api = connect(kube.kubeconfig)
    inst = seed_cluster(api, kube.namespace)
    api.create(_seed.run(inst, "alpha-run-y", "long task").model_copy(update={"status": None}))
    app = K8sClawApp(api, namespace=kube.namespace)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(app.store.all("runs")) == 1, "seeded run")
        await pilot.press("d")
        assert isinstance(app.screen, TextScreen) and "alpha-openai-key" in app.screen.text
        await pilot.press("escape", "l")
        assert isinstance(app.screen, TextScreen) and app.screen.title_text.startswith("Events")
        await pilot.press("escape")
        await submit(pilot, "/result alpha-run-y")
        assert isinstance(app.screen, TextScreen) and "no result yet" in app.screen.text
        await pilot.press("escape", "2", "l")
        assert "has no pod yet" in str(app.query_one("#message").render())
        await submit(pilot, "/abort alpha-run-y")
        await until(pilot, lambda: not app.store.all("runs"), "aborted run gone")


async def test_onboard_wizard_creates_secret_policy_and_instance(kube: KubeEnv) -> None:
    api = connect(kube.kubeconfig)
    app = K8sClawApp(api, namespace=kube.namespace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("O")
        assert isinstance(app.screen, OnboardScreen)
        await pilot.press("escape")
        assert "onboarding cancelled" in str(app.query_one("#message").render())
        await pilot.press("O")

        def fill(field: str, value: str) -> None:  # Tab order is under test, not typing
            focused = app.screen.focused
            assert isinstance(focused, Input) and focused.id == field, focused
            focused.value = value

        fill("w-instance", "wiz")
        await pilot.press("tab", "tab")  # past the provider select
        fill("w-model", "gpt-4o-mini")
        await pilot.press("tab")
        fill("w-key", "sk-secret")
        await pilot.press("enter")
        await until(pilot, lambda: names_shown(app) == ["wiz"], "onboarded instance")
        inst = await asyncio.to_thread(api.get, ClawInstance, "wiz", kube.namespace)
        assert inst.spec.agents.default.model == "gpt-4o-mini"
        assert inst.spec.policy_ref == "default-policy"
        assert [r.secret for r in inst.spec.auth_refs] == ["wiz-openai-key"]
        secret = await asyncio.to_thread(
            api.get_raw, "v1", "Secret", "wiz-openai-key", kube.namespace
        )
        assert secret["metadata"]["name"] == "wiz-openai-key"
        # Same objects as `k8sclaw onboard`: the provider's own key name, a real policy.
        assert set(secret["data"]) == {"OPENAI_API_KEY"}
        policy = await asyncio.to_thread(
            api.get_raw, "k8sclaw.io/v1alpha1", "ClawPolicy", "default-policy", kube.namespace
        )
        assert policy["spec"]["toolGating"]["rules"]
        await until(pilot, lambda: bool(app.store.all("policies")), "default policy")


async def test_namespace_switch(kube: KubeEnv) -> None:
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    app = K8sClawApp(api, namespace="default")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: bool(app.namespace_names), "namespace list")
        await pilot.press("slash", *f"ns {kube.namespace[:3]}")
        # completion shows the namespace's phase next to its name
        assert f"/ns {kube.namespace} (Active)" in str(app.query_one("#message").render())
        await pilot.press("escape")
        await submit(pilot, f"/ns {kube.namespace}")
        await until(pilot, lambda: names_shown(app) == ["alpha"], "instance after /ns")
        assert f"ns:{kube.namespace}" in str(app.query_one("#header").render())


async def test_cluster_disappears_banner_then_recovery_without_duplicates(
    kube: KubeEnv, tmp_path: Path
) -> None:
    """The connection is cut by a TCP proxy in front of the API server (the emulator or a
    real one: TLS passes through, verified against the server's own name)."""
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    url = urlsplit(kube.server_url)
    proxy = Proxy(url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80))
    config = yaml.safe_load(kube.kubeconfig.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(
        c["cluster"] for c in config["clusters"] if c["name"] == context["context"]["cluster"]
    )
    cluster["server"] = f"{url.scheme}://127.0.0.1:{proxy.port}"
    if url.scheme == "https" and url.hostname:
        cluster.setdefault("tls-server-name", url.hostname)
    proxied = tmp_path / "proxied-kubeconfig"
    proxied.write_text(yaml.safe_dump(config))
    proxy.restore()
    app = K8sClawApp(connect(proxied), namespace=kube.namespace, backoff=lambda: Backoff(0.05, 0.2))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: names_shown(app) == ["alpha"], "instance via proxy")
            proxy.cut()
            await until(pilot, lambda: bool(app.query_one("#banner").display), "banner")
            assert "unreachable" in str(app.query_one("#header").render())
            assert names_shown(app) == ["alpha"]  # last known state stays
            await asyncio.to_thread(api.create, _seed.instance("beta", kube.namespace))
            proxy.restore()
            await until(pilot, lambda: not app.query_one("#banner").display, "recovery")
            await until(pilot, lambda: sorted(names_shown(app)) == ["alpha", "beta"], "re-list")
            assert "connected" in str(app.query_one("#header").render())
    finally:
        app.stop_watches()
        proxy.close()


def post_event(api: Kube, ns: str, name: str, reason: str, message: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {"kind": "ClawInstance", "name": "alpha", "namespace": ns},
        "type": "Normal",
        "reason": reason,
        "message": message,
        "lastTimestamp": "2026-01-01T12:00:00Z",
    }
    api.request("POST", f"/api/v1/namespaces/{ns}/events", what="events", body=body)


async def test_events_view_is_live(kube: KubeEnv) -> None:
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    ns = kube.namespace
    post_event(api, ns, "alpha.1", "Reconciled", "instance ready")
    app = K8sClawApp(api, namespace=ns)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: names_shown(app) == ["alpha"], "seeded instance")
        await pilot.press("l")
        screen = app.screen
        assert isinstance(screen, TextScreen) and "live" in screen.title_text
        await until(pilot, lambda: any("instance ready" in x for x in screen.lines), "old event")
        await asyncio.to_thread(post_event, api, ns, "alpha.2", "ChannelDown", "slack gone")
        await until(pilot, lambda: any("ChannelDown" in x for x in screen.lines), "new event")
        await pilot.press("escape")
        assert not isinstance(app.screen, TextScreen)
        await pilot.press("d")  # describe ends with the Events section, as kubectl's does
        described = app.screen
        assert isinstance(described, TextScreen) and "Name:         alpha" in described.text
        await until(pilot, lambda: "Events:" in described.lines, "the Events section")
        assert any("Reconciled" in x and "instance ready" in x for x in described.lines)


async def _colon(pilot: Pilot[int], line: str) -> None:
    """`:` then `line` then Enter (k9s's command prompt)."""
    await pilot.press("colon")
    command = pilot.app.query_one("#command", Input)
    command.value = line
    await command.action_submit()
    await pilot.pause()


async def test_colon_ns_and_ctx_switch_namespace_and_context(kube: KubeEnv, tmp_path: Path) -> None:
    config = yaml.safe_load(kube.kubeconfig.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    other = {"name": "other", "context": {**current["context"], "namespace": kube.namespace}}
    config["contexts"].append(other)
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    api = connect(path)
    seed_cluster(api, kube.namespace)
    app = K8sClawApp(api, namespace="default", kubeconfig=str(path))
    async with app.run_test(size=(80, 24)) as pilot:
        message = app.query_one("#message")
        await _colon(pilot, "ctx")
        assert f"contexts: *{current['name']}, other" in str(message.render()) or (
            f"contexts: other, *{current['name']}" in str(message.render())
        )
        await _colon(pilot, "ctx nope")
        assert "context 'nope' not found" in str(message.render())
        await _colon(pilot, "ctx other")
        await until(pilot, lambda: names_shown(app) == ["alpha"], "instance after :ctx")
        assert app.context == "other" and app.namespace == kube.namespace
        await _colon(pilot, "ns default")
        await until(pilot, lambda: app.namespace == "default", ":ns switched")
        assert "ns:default" in str(app.query_one("#header").render())
