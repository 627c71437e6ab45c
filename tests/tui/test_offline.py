"""Pilot tests of the UI on a store fed directly (no API): views, keys, filter, sort, feed."""

from __future__ import annotations

from textual.widgets import Input, Select

from k8sclaw import onboard
from k8sclaw.tui import K8sClawApp, RowsChanged
from k8sclaw.tui._screens import ConfirmScreen, OnboardScreen, TextScreen
from k8sclaw.tui._table import ResourceTable
from k8sclaw_protocol import ClawPolicy
from tests.tui import _seed
from tests.tui._seed import seed, settle, submit


def seeded_app() -> K8sClawApp:
    return K8sClawApp(namespace="default", context="test", clock=lambda: _seed.NOW)


def cells(app: K8sClawApp) -> list[list[str]]:
    table = app.query_one(ResourceTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_empty_views_say_what_to_do_next() -> None:
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        empty = str(app.query_one("#empty").render())
        assert "Press O" in empty
        await pilot.press("2")
        assert "/run <instance> <task>" in str(app.query_one("#empty").render())
        assert "0 runs" in str(app.query_one("#header").render())


async def test_views_show_seeded_rows_with_ages_and_tab_cycles() -> None:
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await seed(app)
        await pilot.pause()
        assert [r[0] for r in cells(app)] == ["alpha", "beta"]
        await pilot.press("tab")
        assert app.view.name == "runs"
        ages = {r[0]: r[-1] for r in cells(app)}
        assert ages == {"alpha-run-1": "5m", "alpha-run-2": "2h", "beta-run-1": "2d"}
        await pilot.press("tab")
        assert cells(app) == [["alpha", "telegram", "alpha-telegram", "Unknown", "-", "-"]]
        for name in ("policies", "skills", "pods"):
            await pilot.press("tab")
            assert app.view.name == name and app.query_one(ResourceTable).row_count == 1
        await pilot.press("shift+tab")
        assert app.view.name == "skills"
        header = str(app.query_one("#header").render())
        assert "2 inst 3 runs 1 pol 1 ch 1 sp 1 pods" in header


async def test_incremental_update_keeps_selection_and_deletes_rows() -> None:
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await seed(app)
        await pilot.press("2", "j", "j")
        table = app.query_one(ResourceTable)
        assert table.current_key() == "uid-beta-run-1"
        alpha = _seed.instance("alpha", uid="uid-alpha")
        done = _seed.run(alpha, "alpha-run-2", "count to three", phase="Succeeded", result="1 2 3")
        app.post_message(RowsChanged("runs", [done], []))
        await settle(app, lambda: cells(app)[1][2] == "Succeeded")
        assert table.current_key() == "uid-beta-run-1"
        assert cells(app)[1][2] == "Succeeded"
        app.post_message(RowsChanged("runs", [], ["uid-alpha-run-1"]))
        await settle(app, lambda: table.row_count == 2)
        assert [r[0] for r in cells(app)] == ["alpha-run-2", "beta-run-1"]


async def test_jump_filter_sort_and_escape() -> None:
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await seed(app)
        await pilot.press("colon", *"ar", "enter")
        assert app.view.name == "runs"
        await pilot.press("f", *"alpha")
        assert [r[0] for r in cells(app)] == ["alpha-run-1", "alpha-run-2"]
        await pilot.press("enter", "escape")
        assert app.query_one(ResourceTable).row_count == 3
        await pilot.press("s", "s", "s")  # NAME, INSTANCE, PHASE
        assert [r[2] for r in cells(app)] == ["Failed", "Running", "Succeeded"]
        await pilot.press("s")  # POD is another column
        await pilot.press("colon", *"nope", "enter")
        assert "no view 'nope'" in str(app.query_one("#message").render())
        await pilot.press("escape")
        assert app.view.name == "instances"


async def test_describe_yaml_help_and_detail_screens() -> None:
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await seed(app)
        await pilot.press("d")
        assert isinstance(app.screen, TextScreen) and "Name:         alpha" in app.screen.text
        await pilot.press("escape", "y")
        assert isinstance(app.screen, TextScreen) and "kind: ClawInstance" in app.screen.text
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, TextScreen)
        assert "asks first" in app.screen.text and "/run" in app.screen.text
        await pilot.press("escape", "2", "enter")
        assert isinstance(app.screen, TextScreen) and "hello there" in app.screen.text
        await pilot.press("escape")
        assert not isinstance(app.screen, TextScreen)


async def test_feed_follows_selected_instance_and_updates_live() -> None:
    app = seeded_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await seed(app)
        await pilot.pause()
        feed = str(app.query_one("#feed").render())
        assert "say hi" in feed and "hello there" in feed and "fail please" not in feed
        await pilot.press("j")
        assert "fail please" in str(app.query_one("#feed").render())
        beta = _seed.instance("beta", uid="uid-beta", channel=False)
        app.post_message(
            RowsChanged(
                "runs",
                [_seed.run(beta, "beta-run-2", "again", phase="Succeeded", result="fine now")],
                [],
            )
        )
        await settle(app, lambda: "fine now" in str(app.query_one("#feed").render()))


async def test_slash_commands_offline() -> None:
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await seed(app)
        message = app.query_one("#message")
        await pilot.press("slash", *"sta")  # typing and Tab completion are under test here
        assert "/status" in str(message.render())
        await pilot.press("tab")
        assert app.query_one("#command").value == "/status"  # type: ignore[attr-defined]
        await pilot.press("enter")
        assert "runs: 1 failed 1 running 1 succeeded" in str(message.render())
        await submit(pilot, "/features default-policy")
        assert "code-execution=on" in str(message.render())
        for command, view in (
            ("runs", "runs"),
            ("channels", "channels"),
            ("policies", "policies"),
            ("skills", "skills"),
            ("pods", "pods"),
            ("instances", "instances"),
        ):
            await submit(pilot, f"/{command}")
            assert app.view.name == view
        await submit(pilot, "/result alpha-run-1")
        assert isinstance(app.screen, TextScreen) and "hello there" in app.screen.text
        await pilot.press("escape")
        await submit(pilot, "/ns")
        assert "namespace: default" in str(message.render())
        await submit(pilot, "/help")
        assert isinstance(app.screen, TextScreen)
        await pilot.press("escape")
        await submit(pilot, "/bogus")
        assert "unknown command" in str(message.render())
        await submit(pilot, "/quit")
    assert app.return_code == 0


async def test_completion_shows_phase_and_bindings_next_to_names() -> None:
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await seed(app)
        message = app.query_one("#message")
        await pilot.press("slash")
        command = app.query_one("#command", Input)
        command.value = "/abort "
        await settle(app, lambda: "alpha-run-2" in str(message.render()))
        assert str(message.render()).strip() == "/abort alpha-run-2 (Running)"
        command.value = "/features d"
        await settle(app, lambda: "/features" in str(message.render()))
        assert str(message.render()).strip() == "/features default-policy (0 bindings)"


async def test_onboard_answers_default_the_model_from_the_provider_table() -> None:
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = OnboardScreen()
        await app.push_screen(screen)
        await pilot.pause()
        assert screen.answers().model == onboard.PROVIDERS["openai"].default_model == "gpt-4o"
        screen.query_one("#w-provider", Select).value = "anthropic"
        assert screen.answers().model == "claude-sonnet-4-20250514"
        screen.query_one("#w-provider", Select).value = "ollama"
        assert (screen.answers().instance, screen.answers().model) == ("my-agent", "llama3")


async def test_x_on_a_channel_row_refuses_but_delete_instance_still_asks() -> None:
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await seed(app)
        await pilot.press("3", "x")
        assert app.view.name == "channels" and not isinstance(app.screen, ConfirmScreen)
        assert "removed by editing their instance" in str(app.query_one("#message").render())
        await submit(pilot, "/delete instance alpha")  # from the Channels view, too
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Delete instance alpha?"


async def test_status_line_errors_keep_their_hint_and_expire() -> None:
    from k8sclaw.kube import KubeError

    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        message = app.query_one("#message")

        def fail() -> str:
            raise KubeError(
                "Internal error occurred: failed calling webhook " + "x" * 60,
                hint="run `k8sclaw install --wait`",
            )

        app.run_op(fail)
        await settle(app, lambda: "failed calling webhook" in str(message.render()))
        await pilot.pause()
        shown = str(message.render())
        assert "[red]" not in shown and "hint: run `k8sclaw install --wait`" in shown
        assert message.size.height >= 2  # wrapped, the hint not cut at the edge
        app.ERROR_SECONDS = 0.2  # that it expires is under test, not when
        app.say("an old error", error=True)
        assert "an old error" in str(message.render())
        await settle(app, lambda: str(message.render()).strip() == "")


async def test_slash_run_with_an_unknown_instance_like_word_asks_instead_of_guessing() -> None:
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await seed(app)
        message = app.query_one("#message")
        await submit(pilot, "/run nope do something")
        shown = str(message.render())
        assert "no instance 'nope'" in shown and "/run -- <task>" in shown
        await submit(pilot, "/run alpah do something")
        assert "did you mean 'alpha'?" in str(message.render())
        # No cluster here: a run that gets past the name check stops at "usage: ...".
        await submit(pilot, "/run -- nope do something")
        assert "usage: /run" in str(message.render())


def _footer(app: K8sClawApp) -> list[str]:
    shown = app.screen.active_bindings.values()
    return [b.binding.description for b in shown if b.enabled and b.binding.show]


async def test_readonly_hides_and_refuses_every_write() -> None:
    app = K8sClawApp(namespace="default", context="test", clock=lambda: _seed.NOW, readonly=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await seed(app)
        message = app.query_one("#message")
        assert {"Delete", "Run", "Onboard"}.isdisjoint(_footer(app))
        assert {"Logs", "Describe", "YAML"} <= set(_footer(app))
        for key, what in (("x", "delete"), ("O", "onboard"), ("R", "run"), ("e", "edit")):
            await pilot.press(key)
            assert not isinstance(app.screen, (ConfirmScreen, OnboardScreen))
            assert f"{what} is disabled" in str(message.render()) and "--readonly" in str(
                message.render()
            )
        assert app.view.name == "instances"  # R did not switch to the Runs view
        for line in ("/delete instance alpha", "/run -- hi", "/abort alpha-run-1"):
            await submit(pilot, line)
            assert "is disabled" in str(message.render()), line
        await pilot.press("question_mark")
        assert isinstance(app.screen, TextScreen)
        hidden = [ln for ln in app.screen.text.splitlines() if "(hidden: --readonly)" in ln]
        assert any("Delete" in ln for ln in hidden) and any("/delete" in ln for ln in hidden)


async def test_without_readonly_the_write_keys_are_shown() -> None:
    app = seeded_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await seed(app)
        assert {"Delete", "Run", "Onboard"} <= set(_footer(app))
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)


async def test_help_and_describe_open_at_the_top() -> None:
    from textual.widgets import RichLog

    app = seeded_app()
    async with app.run_test(size=(80, 12)) as pilot:
        await seed(app)
        for key, first in (("question_mark", "Keys"), ("d", "Name:")):
            await pilot.press(key)
            body = app.screen.query_one(RichLog)
            await settle(app, lambda b=body: b.max_scroll_y > 0)  # written and laid out
            await pilot.pause()
            assert body.max_scroll_y > 0  # longer than the screen: where it opens matters
            assert body.scroll_y == 0, key
            assert body.lines[0].text.startswith(first)
            await pilot.press("escape")


async def test_ages_tick_without_any_event() -> None:
    from datetime import timedelta

    now = [_seed.NOW]
    app = K8sClawApp(namespace="default", context="test", clock=lambda: now[0])
    app.AGE_SECONDS = 0.05  # that ages tick is under test, not how often
    async with app.run_test(size=(80, 24)) as pilot:
        await seed(app)
        await pilot.press("2")
        ages = lambda: {r[0]: r[-1] for r in cells(app)}  # noqa: E731
        assert ages()["alpha-run-1"] == "5m"
        now[0] = _seed.NOW + timedelta(hours=3)
        await settle(app, lambda: ages()["alpha-run-1"] != "5m")
        assert ages() == {"alpha-run-1": "3h", "alpha-run-2": "5h", "beta-run-1": "2d"}


async def test_the_feed_follows_the_newest_run_unless_scrolled_away() -> None:
    from k8sclaw.tui._feed import Feed

    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await seed(app)
        alpha = app.store.by_name("instances", "alpha")
        many = [
            _seed.run(alpha, f"alpha-run-{i:02}", f"task {i}", phase="Succeeded", age_s=900 - i)
            for i in range(10, 22)
        ]
        app.post_message(RowsChanged("runs", many, [], reset=False))
        feed = app.query_one(Feed)
        text = lambda: str(app.query_one("#feed").render())  # noqa: E731
        await settle(app, lambda: "task 21" in text())
        await pilot.pause()
        assert feed.max_scroll_y > 0 and feed.scroll_y == feed.max_scroll_y  # newest in view
        feed.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        newer = _seed.run(alpha, "alpha-run-99", "task 99", phase="Running", age_s=1)
        app.post_message(RowsChanged("runs", [newer], [], reset=False))
        await settle(app, lambda: "task 99" in text())
        await pilot.pause()
        assert feed.scroll_y == 0  # the user scrolled up: left there
        feed.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        last = _seed.run(alpha, "alpha-run-zz", "task zz", phase="Running", age_s=0)
        app.post_message(RowsChanged("runs", [last], [], reset=False))
        await settle(app, lambda: "task zz" in text())
        await pilot.pause()
        assert feed.scroll_y == feed.max_scroll_y  # back at the end: following again


async def test_onboard_form_validates_before_it_applies() -> None:
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = OnboardScreen()
        await app.push_screen(screen)
        await pilot.pause()
        await pilot.press("enter")  # one Enter in the first field: nothing is applied
        assert app.screen is screen
        assert "OpenAI needs an API key" in str(screen.query_one("#w-error").render())
        assert screen.focused is not None and screen.focused.id == "w-key"
        screen.query_one("#w-key", Input).value = "sk-x"
        screen.query_one("#w-provider", Select).value = "openai-compatible"
        await pilot.press("enter")
        assert app.screen is screen and screen.focused is not None
        assert screen.focused.id == "w-base_url"
        screen.query_one("#w-base_url", Input).value = "ftp://x"
        await pilot.press("enter")
        assert "must start with http" in str(screen.query_one("#w-error").render())
        screen.query_one("#w-base_url", Input).value = "https://llm.example/v1"
        await pilot.press("enter")
        assert app.screen is not screen  # applied (offline: says it needs a cluster)


async def test_describe_of_a_policy_shows_an_ask_tool_as_needing_approval() -> None:
    wire = _seed.policy("strict").to_wire()
    wire["spec"]["toolGating"] = {
        "defaultAction": "allow",
        "rules": [
            {"tool": "execute_command", "action": "ask"},
            {"tool": "fetch_url", "action": "deny"},
        ],
    }
    wire["spec"]["featureGates"] = {"browser-automation": False, "file-access": False}
    strict = ClawPolicy.from_wire(wire)
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await seed(app)
        app.post_message(RowsChanged("policies", [strict], [], reset=True))
        await pilot.press("4")
        await settle(app, lambda: app.table.row_count == 1)
        await pilot.press("d")
        assert isinstance(app.screen, TextScreen)
        tools = {
            line.split()[0]: line.split(None, 1)[1]
            for line in app.screen.text.split("Tools:\n", 1)[1].splitlines()
        }
        assert tools["execute_command"].startswith("needs approval")
        assert "toolGating.rules[execute_command]" in tools["execute_command"]
        assert tools["fetch_url"].startswith("denied")
        assert tools["read_file"] == "denied          (featureGates.file-access)"
        assert tools["spawn_subagent"].startswith("allowed")
        assert "ask" not in " ".join(tools.values()).replace("toolGating", "")
