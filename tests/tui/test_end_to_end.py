"""`/run <task>` end to end: TUI -> AgentRun -> real controller -> process kubelet (agent
pod with the scripted LLM) -> status back through the TUI's watch into the Runs view and
the feed, with no key pressed after Enter."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from k8sclaw.kube import ClusterTarget, Kube
from k8sclaw.tui import K8sClawApp, Store
from k8sclaw_protocol import AgentRun, ClawInstance
from tests.controllers.manager import _harness
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, calls, text, tool
from tests.tui import _seed
from tests.tui._seed import submit
from tests.tui.test_cluster import names_shown, until

pytestmark = pytest.mark.slow


def seed_cluster(api: Kube, ns: str, llm: ScriptedLLM) -> None:
    """A Secret with the OpenAI key, default-policy, and instance alpha pointed at the LLM."""
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "alpha-openai-key", "namespace": ns},
            "stringData": {"OPENAI_API_KEY": "sk-test"},
        }
    )
    policy = _seed.policy("default-policy", ns).to_wire()
    policy["metadata"] = {"name": "default-policy", "namespace": ns}
    api.apply(policy)
    wire = _seed.instance("alpha", ns, channel=False).to_wire()
    wire["spec"]["agents"]["default"]["baseURL"] = llm.base_url("openai")
    api.create(ClawInstance.from_wire(wire))


def record_run_phases(store: Store) -> list[str]:
    """Every phase the store's run rows went through, in arrival order."""
    seen: list[str] = []
    apply = store.apply

    def recording(kind: str, upserted: list[Any], deleted: list[str], **kw: Any) -> Any:
        if kind == "runs":
            for run in upserted:
                phase = (run.status.phase if run.status else None) or "Pending"
                if not seen or seen[-1] != phase:
                    seen.append(phase)
        return apply(kind, upserted, deleted, **kw)

    store.apply = recording  # type: ignore[method-assign]
    return seen


async def test_slash_run_appears_runs_and_its_answer_reaches_the_feed(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    api = Kube.connect(ClusterTarget(kubeconfig=str(kube.kubeconfig)))
    await asyncio.to_thread(seed_cluster, api, kube.namespace, llm)
    llm.script(text("hello from the agent", input_tokens=7, output_tokens=3))
    settings = _harness.settings_for(kube, **nats.controller_settings())
    app = K8sClawApp(api, namespace=kube.namespace)
    phases = record_run_phases(app.store)
    async with _harness.running(settings), app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: names_shown(app) == ["alpha"], "the instance")
        await pilot.press("2")
        await submit(pilot, "/run -- say hello")
        await until(pilot, lambda: len(names_shown(app)) == 1, "the run in the Runs view")
        feed = app.query_one("#feed")
        answered = lambda: "hello from the agent" in str(feed.render())  # noqa: E731
        await until(pilot, answered, "the answer in the feed", tries=3000)
        # The answer streams from the pod log; the run's completion comes over the bus and
        # the controller's status write, which may land a moment later on a loaded machine.
        done = lambda: app.table.get_row_at(0)[2] == "Succeeded"  # noqa: E731
        await until(pilot, done, "the run Succeeded", tries=3000)
        row = app.table.get_row_at(0)
        assert row[2] == "Succeeded" and row[4] == "10", row  # PHASE, TOKENS
        assert "[Succeeded]" in str(feed.render())
    assert "Running" in phases and phases[-1] == "Succeeded", phases
    assert phases.index("Running") < phases.index("Succeeded")
    runs = await asyncio.to_thread(api.list, AgentRun, kube.namespace)
    assert [r.spec.task for r in runs] == ["say hello"]


async def test_the_feed_shows_the_answer_while_it_streams_then_the_result_once(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    api = Kube.connect(ClusterTarget(kubeconfig=str(kube.kubeconfig)))
    await asyncio.to_thread(seed_cluster, api, kube.namespace, llm)
    hold = threading.Event()
    answer = "hello from the agent, word by word"
    llm.script(
        calls(tool("list_directory", path="/workspace"), say="Looking."),
        text(answer, hold=hold),
    )
    settings = _harness.settings_for(kube, **nats.controller_settings())
    app = K8sClawApp(api, namespace=kube.namespace)
    async with _harness.running(settings), app.run_test(size=(160, 48)) as pilot:
        feed = app.query_one("#feed")
        shown = lambda: str(feed.render())  # noqa: E731
        try:
            await until(pilot, lambda: names_shown(app) == ["alpha"], "the instance")
            await submit(pilot, "/run -- greet me")
            # The model is held after "hello ": this text can only come from the live log.
            await until(pilot, lambda: "hello ▍" in shown(), "the partial answer", tries=3000)
            text_now = shown()
            assert "Looking.\n→ list_directory: /workspace\nhello ▍" in text_now, text_now
            assert "[Running]" in text_now and "word by word" not in text_now, text_now
            assert app.live.following
        finally:
            hold.set()
        await until(pilot, lambda: "[Succeeded]" in shown(), "the result", tries=3000)
        final = shown()
        assert final.count("hello from the agent") == 1, final  # the result replaced the stream
        assert answer in final and "→ list_directory" not in final and "__K8SCLAW" not in final
        assert not app.live.following  # the run ended: its follower was stopped
    for thread in threading.enumerate():
        if thread.name.startswith("feed-"):
            thread.join(10)  # stopped: a blocked read was shut down
            assert not thread.is_alive()
