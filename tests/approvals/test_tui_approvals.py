"""The TUI's Approvals view (key `a`): pending calls of the namespace's runs; A / D
annotate the run with the decision after a confirmation (the webhook stamps who)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from k8sclaw.tui import K8sClawApp
from k8sclaw.tui._screens import ConfirmScreen
from k8sclaw_protocol import AgentRun, names
from tests.harness.kube import KubeEnv
from tests.tui import _seed
from tests.tui.test_cluster import connect, names_shown, seed_cluster, until

PENDING = {"id": "feed01", "tool": "execute_command", "summary": '{"command": "make deploy"}'}


def _waiting(inst: object, name: str) -> AgentRun:
    run = _seed.run(inst, name, "deploy it", phase="Running")  # type: ignore[arg-type]
    wire = run.to_wire()
    expires = datetime.now(UTC) + timedelta(minutes=10)
    wire["status"]["pendingApprovals"] = [{**PENDING, "expiresAt": expires.isoformat()}]
    return AgentRun.from_wire(wire)


async def test_the_approvals_view_lists_pending_calls_and_a_approves(kube: KubeEnv) -> None:
    api = connect(kube.kubeconfig)
    ns = kube.namespace
    inst = seed_cluster(api, ns)
    created = api.create(_waiting(inst, "gated").model_copy(update={"status": None}))
    status = {"status": _waiting(inst, "gated").to_wire()["status"]}
    api.request(
        "PATCH",
        f"/apis/{names.GROUP_VERSION}/namespaces/{ns}/agentruns/{created.name}/status",
        what="agentrun status",
        body=status,
        content_type="application/merge-patch+json",
    )
    app = K8sClawApp(api, namespace=ns)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("a")
        await until(pilot, lambda: names_shown(app) == ["gated"], "the pending approval")
        assert app.view.name == "approvals"
        row = app.table.rows_all[next(iter(app.table.rows_all))]
        assert row[1:4] == ("execute_command", '{"command": "make deploy"}', "feed01")
        assert row[4] in ("in 9m", "in 10m"), row  # refused (via: timeout) then
        await pilot.press("D")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        assert "deny cancelled" in str(app.query_one("#message").render())
        await pilot.press("A", "y")

        def annotated() -> bool:
            run = api.get(AgentRun, "gated", ns)
            return names.ANNOTATION_APPROVAL_DECISION in (run.metadata.annotations or {})

        await until(pilot, annotated, "the decision annotation")
    run = await asyncio.to_thread(api.get, AgentRun, "gated", ns)
    value = json.loads((run.metadata.annotations or {})[names.ANNOTATION_APPROVAL_DECISION])
    assert value == {"id": "feed01", "decision": "approve"}


async def test_approve_outside_the_approvals_view_says_where_it_works(kube: KubeEnv) -> None:
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    app = K8sClawApp(api, namespace=kube.namespace)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("A")
        assert "Approvals view" in str(app.query_one("#message").render())


async def test_readonly_refuses_decisions(kube: KubeEnv) -> None:
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    app = K8sClawApp(api, namespace=kube.namespace, readonly=True)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("a", "A")
        assert "disabled" in str(app.query_one("#message").render())
