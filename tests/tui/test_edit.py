"""Pilot tests of the instance-editing slash commands against the harness API:
`/channel`, `/rmchannel`, `/provider`, `/baseurl`, their completion, and the view filters
`/channels <inst>` and `/pods <inst>`."""

from __future__ import annotations

import asyncio

from k8sclaw.tui import K8sClawApp
from k8sclaw.tui._commands import candidates, labelled
from k8sclaw.tui._screens import ConfirmScreen
from k8sclaw.tui._store import Store
from k8sclaw_protocol import ClawInstance, ClawInstanceStatus, ClawPolicyStatus
from tests.harness.kube import KubeEnv
from tests.tui import _seed
from tests.tui._seed import submit
from tests.tui.test_cluster import connect, names_shown, seed_cluster, until


def test_completion_of_edit_arguments() -> None:
    store = Store()
    store.apply(
        "instances", [_seed.instance("alpha", uid="a"), _seed.instance("beta", uid="b")], []
    )
    none: list[str] = []
    assert candidates("/rmc", store, lambda: none) == ["/rmchannel"]
    assert candidates("/channel b", store, lambda: none) == ["/channel beta"]
    assert candidates("/channel alpha s", store, lambda: none) == ["/channel alpha slack"]
    assert candidates("/rmchannel alpha ", store, lambda: none) == ["/rmchannel alpha telegram"]
    assert candidates("/provider beta a", store, lambda: none) == [
        "/provider beta anthropic",
        "/provider beta azure-openai",
    ]
    assert candidates("/baseurl ", store, lambda: none) == ["/baseurl alpha", "/baseurl beta"]
    assert candidates("/pods al", store, lambda: none) == ["/pods alpha"]
    assert candidates("/delete c", store, lambda: none) == ["/delete channel"]
    assert candidates("/delete channel b", store, lambda: none) == ["/delete channel beta"]
    assert candidates("/delete channel alpha t", store, lambda: none) == [
        "/delete channel alpha telegram"
    ]
    assert candidates("/delete channel nobody ", store, lambda: none) == []


def test_completion_details_phase_and_bindings() -> None:
    store = Store()
    alpha = _seed.instance("alpha", uid="a")
    running = alpha.model_copy(update={"status": ClawInstanceStatus(phase="Running")})
    store.apply("instances", [running, _seed.instance("beta", uid="b")], [])
    bound = _seed.policy("default-policy")
    bound = bound.model_copy(update={"status": ClawPolicyStatus(bound_instances=1)})
    store.apply("policies", [bound, _seed.policy("strict")], [])
    store.apply("runs", [_seed.run(alpha, "alpha-run-1", "t", phase="Succeeded")], [])

    def shown(line: str) -> list[str]:
        return labelled(line, candidates(line, store, list), store)

    assert shown("/run ") == ["/run alpha (Running)", "/run beta (Pending)"]
    assert shown("/delete channel a") == ["/delete channel alpha (Running)"]
    assert shown("/features ") == [
        "/features default-policy (1 binding)",
        "/features strict (0 bindings)",
    ]
    assert shown("/result a") == ["/result alpha-run-1 (Succeeded)"]
    assert shown("/delete run a") == ["/delete run alpha-run-1 (Succeeded)"]
    assert shown("/channel alpha t") == ["/channel alpha telegram"]  # types: no detail
    assert shown("/ru") == ["/run", "/runs"]
    phases = {"default": "Active", "old": "Terminating"}
    assert labelled("/ns ", ["/ns default", "/ns old"], store, phases) == [
        "/ns default (Active)",
        "/ns old (Terminating)",
    ]


async def test_edit_commands_patch_the_instance(kube: KubeEnv) -> None:
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    ns = kube.namespace

    def fetch() -> ClawInstance:
        return api.get(ClawInstance, "alpha", ns)

    app = K8sClawApp(api, namespace=ns)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: names_shown(app) == ["alpha"], "seeded instance")
        message = app.query_one("#message")

        async def command(line: str, expect: str) -> None:
            await submit(pilot, f"/{line}")  # typing is covered elsewhere
            await until(pilot, lambda: expect in str(message.render()), expect)

        await command("channel alpha Slack alpha-slack", "added slack channel")
        inst = await asyncio.to_thread(fetch)
        assert [(c.type, c.config_ref.secret) for c in inst.spec.channels] == [
            ("telegram", "alpha-telegram"),
            ("slack", "alpha-slack"),
        ]
        await command("channel alpha slack other", "already has a slack channel")
        await command("channel alpha fax x", "unknown channel type 'fax'")
        await command("rmchannel alpha TELEGRAM", "removed telegram channel")
        inst = await asyncio.to_thread(fetch)
        assert [c.type for c in inst.spec.channels] == ["slack"]
        await command("rmchannel alpha discord", "has no discord channel")
        await command("baseurl alpha http://127.0.0.1:9/v1", "base URL set")
        inst = await asyncio.to_thread(fetch)
        assert inst.spec.agents.default.base_url == "http://127.0.0.1:9/v1"
        await command("baseurl alpha ftp://x", "must start with http")
        await command("provider alpha anthropic claude-sonnet-4-20250514", "now uses anthropic")
        inst = await asyncio.to_thread(fetch)
        default = inst.spec.agents.default
        assert (default.provider, default.model, default.base_url) == (
            "anthropic",
            "claude-sonnet-4-20250514",
            None,
        )
        await command("provider nobody openai gpt-4o", "no instance 'nobody'")
        await command("provider alpha", "usage: /provider")
        # /delete channel is /rmchannel behind the usual confirmation
        await command("delete channel alpha", "usage: /delete channel <instance> <type>")
        await submit(pilot, "/delete channel alpha Slack")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await until(pilot, lambda: "delete cancelled" in str(message.render()), "cancel")
        assert [c.type for c in (await asyncio.to_thread(fetch)).spec.channels] == ["slack"]
        await submit(pilot, "/delete channel alpha slack", "y")
        await until(pilot, lambda: "removed slack channel" in str(message.render()), "delete")
        assert (await asyncio.to_thread(fetch)).spec.channels == []
        # the watch brings the edit back: the Channels view shows the new channel
        await command("channel alpha discord alpha-discord", "added discord channel")
        await submit(pilot, "/channels alpha")
        await until(pilot, lambda: names_shown(app) == ["alpha"], "channel row")
        assert app.table.get_row_at(0)[1] == "discord" and app.table.filter_text == "alpha"
        await pilot.press("escape")
        await submit(pilot, "/pods nobody")
        assert app.view.name == "pods" and app.table.filter_text == "nobody"
