"""The TUI application: key actions and slash commands on top of `AppCore`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from textual import on
from textual.widgets import Input

from k8sclaw.tui import _commands, _describe, _edit, _ops, _yamledit
from k8sclaw.tui._actions import WRITE_COMMANDS, help_text
from k8sclaw.tui._app import AppCore
from k8sclaw.tui._screens import ConfirmScreen, OnboardScreen, TextScreen
from k8sclaw.tui._store import EVENTS, INSTANCES, JOBS, PODS, POLICIES, RUNS, is_record, name_of
from k8sclaw.tui._views import VIEWS, approval_id, view_named
from k8sclaw_protocol import TERMINAL_PHASES, ClawInstance

_EVENT_KINDS = {
    INSTANCES: "ClawInstance",
    POLICIES: "ClawPolicy",
    "skills": "SkillPack",
    "schedules": "ClawSchedule",
    RUNS: "AgentRun",
    PODS: "Pod",
    JOBS: "Job",
}


class K8sClawApp(AppCore):
    """k9s-style UI over the K8sClaw kinds; `kube=None` runs on a store fed by the caller."""

    # -- views and navigation ---------------------------------------------------------

    def action_view(self, index: int) -> None:
        """Show view `index` (keys 1-8)."""
        self.show_view(index)

    def action_next_view(self) -> None:
        """Tab: next view, or accept the completion while typing a command."""
        if self.screen is not self.screen_stack[0]:
            self.screen.focus_next()
            return
        command = self.query_one("#command", Input)
        if command.has_focus:
            command.action_cursor_right()
            return
        self.show_view(self.view_index + 1)

    def action_previous_view(self) -> None:
        """Shift+Tab: previous view (previous field on overlay screens)."""
        if self.screen is not self.screen_stack[0]:
            self.screen.focus_previous()
            return
        self.show_view(self.view_index - 1)

    def action_cursor_down(self) -> None:
        """j: next row."""
        self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        """k: previous row."""
        self.table.action_cursor_up()

    def action_sort(self) -> None:
        """s: sort by the next column (again on the last column: back to the first)."""
        table = self.table
        column = 0 if table.sort_column is None else (table.sort_column + 1) % len(table.headers)
        table.sort_by(column)
        self.say(f"sorted by {table.headers[column]}")

    def action_go_back(self) -> None:
        """Esc: close the command line, else clear the filter, else go to Instances."""
        command = self.query_one("#command", Input)
        if command.display:
            command.display = False
            self.table.focus()
        elif self.table.filter_text:
            self.table.refilter("")
            self.show_view(self.view_index)
        else:
            self.show_view(0)

    # -- the command line ---------------------------------------------------------------

    def open_input(self, mode: str, value: str) -> None:
        """Show the command line in `mode` (/ command, : jump, filter) pre-filled."""
        self.input_mode = mode
        command = self.query_one("#command", Input)
        command.display = True
        command.value = value
        command.cursor_position = len(value)
        command.focus()

    def action_command(self) -> None:
        """/: slash command line."""
        self.open_input("/", "/")

    def action_jump(self) -> None:
        """: jump to a view by name or short name."""
        self.open_input(":", "")

    def action_filter(self) -> None:
        """f: filter rows as you type."""
        self.open_input("filter", self.table.filter_text)

    def action_run_prompt(self) -> None:
        """R: Runs view, command line pre-filled `/run <instance> `."""
        self.show_view(1)
        instance = self.selected_instance() or ""
        self.open_input("/", f"/run {instance} " if instance else "/run ")

    @on(Input.Changed, "#command")
    def _typed(self, event: Input.Changed) -> None:
        if self.input_mode == "filter":
            self.table.refilter(event.value)
            self.refresh_rows(set(), set(), full=False)
        elif self.input_mode == "/":
            found = _commands.candidates(event.value, self.store, lambda: self.namespace_names)
            more = f"  +{len(found) - 6} more" if len(found) > 6 else ""
            self.say(
                "  ".join(
                    _commands.labelled(event.value, found[:6], self.store, self.namespace_phases)
                )
                + more
            )

    @on(Input.Submitted, "#command")
    def _submitted(self, event: Input.Submitted) -> None:
        command = self.query_one("#command", Input)
        command.display = False
        self.table.focus()
        if self.input_mode == ":":
            word, _, arg = event.value.strip().partition(" ")
            if word == "status":  # :status, like /status
                self.execute(f"/status {arg}".rstrip())
                return
            if word in ("ns", "namespace", "ctx", "context"):  # k9s's :ns and :ctx
                self.execute(f"/{word[:3] if word != 'namespace' else 'ns'} {arg}".rstrip())
                return
            view = view_named(event.value)
            if view is None:
                self.say(
                    f"no view {event.value!r}: try ci, ar, ch, cp, sp, pods, cs, jobs, events",
                    error=True,
                )
            else:
                self.show_view(VIEWS.index(view))
        elif self.input_mode == "/":
            self.execute(event.value)
        else:
            self.show_view(self.view_index)

    # -- object actions -----------------------------------------------------------------

    def _need_selection(self) -> Any | None:
        obj = self.selected()
        if obj is None:
            self.say(f"nothing selected: {self.view.empty}", error=True)
        return obj

    def action_detail(self) -> None:
        """Enter: a run's result; otherwise the describe text."""
        obj = self._need_selection()
        if obj is None:
            return
        if self.view.kind == RUNS:
            self.push_screen(TextScreen(f"Run {obj.name}", _describe.result_text(obj)))
        else:
            self.action_describe()

    def action_describe(self) -> None:
        """d: kubectl-describe-like text, secrets masked."""
        obj = self._need_selection()
        if obj is None:
            return
        text, kube, kind = _describe.describe(obj), self.kube, _EVENT_KINDS.get(self.view.kind)
        if self.view.kind == RUNS:
            text = "\n".join([text, *_describe.sub_agents(obj, self.store.all(RUNS))])
        if kube is None or kind is None:
            self.push_screen(TextScreen(f"Describe {name_of(obj)}", text))
            return
        name, ns = name_of(obj), self.ns_of(obj)
        memory = self.view.kind == INSTANCES

        def sections() -> Iterator[str]:
            if memory:
                yield from _ops.describe_memory(kube, name, ns)
            yield from _ops.describe_events(kube, kind, name, ns)

        self.push_screen(TextScreen(f"Describe {name}", text, stream=sections))

    def action_yaml(self) -> None:
        """y: the object as YAML."""
        obj = self._need_selection()
        if obj is not None:
            self.push_screen(TextScreen(f"YAML {name_of(obj)}", _describe.to_yaml(obj)))

    def action_edit(self) -> None:
        """e: the object's YAML in $EDITOR (the UI suspended), then replaced on the server
        unless someone changed it meanwhile (kubectl edit)."""
        obj = self._need_selection()
        if obj is None:
            return
        if self.kube is None or is_record(obj):
            what = "a cluster connection" if self.kube is None else "a K8sClaw object, not a pod"
            self.say(f"e edits {what}", error=True)
            return
        try:
            opened = _yamledit.run_editor(_yamledit.editable(obj), self.suspend)
            if opened is None:
                self.say(f"edit of {name_of(obj)} cancelled: no changes")
                return
            path, text = opened
            edited = _yamledit.parse(path, text)
        except _yamledit.EditError as exc:
            self.say(str(exc), error=True)
            return
        kube = self.kube
        self.run_op(lambda: _yamledit.apply(kube, obj, path, edited))

    def action_logs(self) -> None:
        """l: a finished run's transcript (tool calls and results as entries), live pod logs
        for running runs and pods; Kubernetes Events for the other kinds."""
        obj = self._need_selection()
        if obj is None or self.kube is None:
            return
        kube, ns = self.kube, self.ns_of(obj)
        if self.view.kind == EVENTS:
            self.say("this is the event list; d shows one event, :pods or :runs their logs")
            return
        if self.view.kind == RUNS and obj.status and obj.status.phase in TERMINAL_PHASES:
            title = f"Transcript {obj.name} (Esc back)"
            name = obj.name
            self.push_screen(
                TextScreen(title, stream=lambda: _ops.transcript_entries(kube, name, ns))
            )
            return
        if self.view.kind in (RUNS, PODS):
            pod = obj.name if self.view.kind == PODS else (obj.status and obj.status.pod_name)
            if not pod:
                self.say(f"run {obj.name} has no pod yet; try again when it is Running")
                return
            title = f"Logs {pod} (following, Esc back)"
            self.push_screen(
                TextScreen(title, stream=lambda: _ops.pod_log(kube, pod, ns), follow=True)
            )
            return
        kind = _EVENT_KINDS.get(self.view.kind, "ClawInstance")
        name = name_of(obj)
        feed = _ops.EventFeed(kube, kind, name, ns)
        title = f"Events {kind} {name} (live, Esc back)"
        self.push_screen(
            TextScreen(title, stream=lambda: iter(feed), on_close=feed.stop, follow=True)
        )

    def action_previous_logs(self) -> None:
        """p: the agent container's log from before its last restart, where there is one."""
        obj = self._need_selection()
        if obj is None or self.kube is None:
            return
        if self.view.kind not in (RUNS, PODS):
            self.say("p shows a restarted pod's earlier log: use it in :pods or :runs")
            return
        name = obj.name if self.view.kind == PODS else (obj.status and obj.status.pod_name)
        pod = self.store.by_name(PODS, name) if name else None
        if pod is None or not pod.restarts:
            self.say(f"pod {name or '(none yet)'} has not restarted: no earlier log (l: current)")
            return
        kube, ns = self.kube, self.ns_of(pod)
        title = f"Logs {name} before restart {pod.restarts} (Esc back)"
        self.push_screen(TextScreen(title, stream=lambda: _ops.previous_pod_log(kube, name, ns)))

    def action_delete(self) -> None:
        """x: delete the selected object after confirmation (Esc cancels)."""
        if not self.view.deletable:  # a channel row stands for its instance: not that
            why = "channels are removed by editing their instance"
            if self.view.kind != INSTANCES:
                why = f"{self.view.name} are not deleted from here (they follow their runs)"
            self.say(why, error=True)
            return
        obj = self._need_selection()
        if obj is not None:
            self.confirm_delete(self.view.kind, obj)

    def confirm_delete(self, kind: str, obj: Any) -> None:
        """Ask, then delete in a worker; the watch removes the row."""
        name = name_of(obj)

        def answered(yes: bool | None) -> None:
            if not yes or self.kube is None:
                self.say("delete cancelled")
                return
            kube = self.kube
            self.run_op(lambda: _ops.delete(kube, kind, obj) or f"deleted {kind[:-1]} {name}")

        self.push_screen(ConfirmScreen(f"Delete {kind[:-1]} {name}?"), answered)

    def action_onboard(self) -> None:
        """O: the onboard wizard; applies in a worker when submitted."""
        if self.kube is None:
            self.say("onboarding needs a cluster connection", error=True)
            return
        if not self.need_namespace("onboarding"):
            return
        kube, ns = self.kube, self.namespace

        def submitted(answers: _ops.Onboarding | None) -> None:
            if answers is None:
                self.say("onboarding cancelled")
                return
            self.run_op(lambda: " ".join(_ops.apply_onboarding(kube, ns, answers)))

        self.push_screen(OnboardScreen(), submitted)

    def action_approvals(self) -> None:
        """a: the Approvals view (tool calls waiting for a person)."""
        self.show_view(next(i for i, v in enumerate(VIEWS) if v.name == "approvals"))

    def action_decide(self, decision: str) -> None:
        """A / D on an Approvals row: approve or deny that call after confirmation."""
        if self.view.name != "approvals":
            self.say("approve (A) and deny (D) work in the Approvals view: press a", error=True)
            return
        key, run = self.table.current_key(), self._need_selection()
        if key is None or run is None:
            return
        approval, verb = approval_id(key), "Approve" if decision == "approve" else "Deny"

        def answered(yes: bool | None) -> None:
            if not yes or self.kube is None:
                self.say(f"{verb.lower()} cancelled")
                return
            kube = self.kube
            self.run_op(lambda: _ops.decide(kube, run, approval, decision))

        tool = self.table.rows_all.get(key, ("", ""))[1]
        self.push_screen(ConfirmScreen(f"{verb} {tool} in run {run.name}?"), answered)

    def action_help(self) -> None:
        """?: every key and command."""
        self.push_screen(TextScreen("Help", help_text(readonly=self.readonly)))

    # -- slash commands -----------------------------------------------------------------

    def execute(self, line: str) -> None:
        """Run one slash command line."""
        command, args, rest = _commands.parse(line)
        if command is None:
            self.say(
                f"unknown command {line.strip()!r}: /help lists them",
                error=True,
            )
            return
        if self.readonly and command.name in WRITE_COMMANDS:
            self.say(
                f"/{command.name} is disabled: k8sclaw was started with --readonly", error=True
            )
            return
        if command.name in _edit.EDITS:
            self.edit_instance(command.name, args)
            return
        view = view_named(command.name)
        if view is not None and command.name != "run":
            self.show_view(VIEWS.index(view))
            if args:  # /channels <inst>, /pods <inst>: that instance's rows only
                self.table.refilter(args[0])
                self.show_view(self.view_index)
            return
        handler = getattr(self, f"cmd_{command.name}")
        handler(args, rest)

    def edit_instance(self, name: str, args: list[str]) -> None:
        """/channel, /rmchannel, /provider, /baseurl: check here, patch in a worker."""
        if self.kube is None:
            self.say(f"/{name} needs a cluster connection", error=True)
            return
        if not self.need_namespace(f"/{name}"):
            return
        try:
            op = _edit.EDITS[name](self.kube, self.namespace, self.store, args)
        except _edit.UsageError as exc:
            self.say(str(exc), error=True)
            return
        self.run_op(op)

    def cmd_quit(self, args: list[str], rest: str) -> None:
        """/quit."""
        self.exit(0)

    def cmd_help(self, args: list[str], rest: str) -> None:
        """/help."""
        self.action_help()

    def cmd_onboard(self, args: list[str], rest: str) -> None:
        """/onboard."""
        self.action_onboard()

    def cmd_run(self, args: list[str], rest: str) -> None:
        """/run [instance] <task>; /run -- <task> sends everything after -- as the task."""
        picked = self._run_target(args, rest)
        if picked is None:
            return
        instance, task = picked
        if instance is None or self.kube is None or not task.strip():
            self.say(
                "usage: /run [instance] <task> (needs an instance: press O to create one)",
                error=True,
            )
            return
        kube, chosen = self.kube, instance
        self.run_op(
            lambda: f"created run {_ops.create_run(kube, chosen, task).name} of {chosen.name}"
        )

    def _run_target(self, args: list[str], rest: str) -> tuple[ClawInstance | None, str] | None:
        """The instance and task of /run, or None (after saying why) when the first word looks
        like an instance name that does not exist: asking beats running a guessed task."""
        selected = self.selected_instance()
        default = self.store.by_name(INSTANCES, selected) if selected else None
        if args and args[0] == "--":
            return default, rest.split("--", 1)[1].strip()
        if len(args) > 1 and self.store.by_name(INSTANCES, args[0]) is not None:
            return self.store.by_name(INSTANCES, args[0]), rest.split(None, 1)[1]
        if len(args) > 1 and _commands.NAME_PATTERN.fullmatch(args[0]):
            guess = _commands.closest_name(args[0], self.store.names(INSTANCES))
            meant = f"did you mean {guess!r}? " if guess else ""
            self.say(
                f"no instance {args[0]!r} — {meant}(use /run -- <task> to send it as the task)",
                error=True,
            )
            return None
        return default, rest

    def _run_named(self, args: list[str]) -> Any | None:
        run = self.store.by_name(RUNS, args[0]) if args else None
        if run is None:
            self.say(
                f"no run {args[0] if args else ''!r} in namespace {self.namespace or '(any)'}",
                error=True,
            )
        return run

    def cmd_abort(self, args: list[str], rest: str) -> None:
        """/abort <run>: delete a run that has not finished."""
        run = self._run_named(args)
        if run is None or self.kube is None:
            return
        if run.status and run.status.phase in TERMINAL_PHASES:
            self.say(f"run {run.name} already finished ({run.status.phase})", error=True)
            return
        kube = self.kube
        self.run_op(lambda: _ops.delete(kube, RUNS, run) or f"aborted run {run.name}")

    def cmd_result(self, args: list[str], rest: str) -> None:
        """/result <run>."""
        run = self._run_named(args)
        if run is not None:
            self.push_screen(TextScreen(f"Run {run.name}", _describe.result_text(run)))

    def cmd_status(self, args: list[str], rest: str) -> None:
        """/status [run]: `k8sclaw doctor`'s checks in an overlay, or one run's status."""
        if args:
            self.cmd_result(args, rest)
            return
        phases: dict[str, int] = {}
        for run in self.store.all(RUNS):
            phase = (run.status.phase if run.status else None) or "Pending"
            phases[phase] = phases.get(phase, 0) + 1
        counts = self.store.counts()
        summary = " ".join(f"{n} {p.lower()}" for p, n in sorted(phases.items())) or "none"
        line = (
            f"ns:{self.namespace or 'all'} │ {counts[INSTANCES]} inst │ {counts[POLICIES]} pol"
            f" │ runs: {summary}"
        )
        if self.kube is None:  # offline: only what the store knows
            self.say(line)
            return
        if not self.need_namespace("/status"):
            return
        # `k8sclaw doctor`'s checks, in the overlay's own thread (never the UI's).
        kube, ns = self.kube, self.namespace
        title = f"Status · {self.context} · ns {ns} (as `k8sclaw doctor`; Esc back)"
        self.push_screen(TextScreen(title, line, stream=lambda: _ops.doctor_lines(kube, ns)))

    def cmd_features(self, args: list[str], rest: str) -> None:
        """/features <policy>."""
        policy = self.store.by_name(POLICIES, args[0]) if args else None
        if policy is None:
            self.say(f"no policy {args[0] if args else ''!r}: /features <policy>", error=True)
            return
        gates = ", ".join(
            f"{k}={'on' if v else 'off'}" for k, v in sorted(policy.spec.feature_gates.items())
        )
        self.say(f"{policy.name} features: {gates or 'none set'}")

    def cmd_delete(self, args: list[str], rest: str) -> None:
        """/delete <type> <name>, /delete channel <inst> <type> (asks first)."""
        if args and args[0] == "channel":
            self.delete_channel(args[1:])
            return
        kind = _commands.DELETE_TYPES.get(args[0]) if args else None
        obj = self.store.by_name(kind, args[1]) if kind and len(args) > 1 else None
        if kind is None or obj is None:
            self.say(
                "usage: /delete instance|run|policy <name> or /delete channel <inst> <type>",
                error=True,
            )
            return
        self.confirm_delete(kind, obj)

    def delete_channel(self, args: list[str]) -> None:
        """/delete channel <inst> <type>: `/rmchannel`, after a confirmation like any delete."""
        if self.kube is None:
            self.say("/delete channel needs a cluster connection", error=True)
            return
        if not self.need_namespace("/delete channel"):
            return
        try:
            op = _edit.prepare_rmchannel(self.kube, self.namespace, self.store, args)
        except _edit.UsageError as exc:
            self.say(str(exc).replace("/rmchannel", "/delete channel"), error=True)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_op(op)
            else:
                self.say("delete cancelled")

        self.push_screen(ConfirmScreen(f"Delete {args[1].lower()} channel of {args[0]}?"), answered)

    def cmd_ctx(self, args: list[str], rest: str) -> None:
        """/ctx [name]: list the kubeconfig's contexts, or reconnect through another one."""
        if self.kube is None:
            self.say("contexts need a cluster connection", error=True)
            return
        from k8sclaw.kube import ClusterTarget, Kube, KubeError, context_names

        if not args:
            known = context_names(ClusterTarget(self.kubeconfig))
            listed = ", ".join(f"*{c}" if c == self.context else c for c in known)
            self.say(f"contexts: {listed or 'none'}  (:ctx <name> switches)")
            return
        try:
            kube = Kube.connect(ClusterTarget(self.kubeconfig, args[0]))
        except KubeError as exc:
            self.say(str(exc), error=True, hint=exc.hint)
            return
        self.stop_watches()
        self.kube, self.context, self.namespace = kube, args[0], kube.namespace
        self.store.clear()
        self.show_view(self.view_index)
        self.start_watches()
        self.say(f"switched to context {self.context} (namespace {self.namespace})")

    def cmd_ns(self, args: list[str], rest: str) -> None:
        """/ns [name]: show or switch the namespace (restarts the watches)."""
        if not args:
            self.say(f"namespace: {self.namespace or 'all (-A)'}")
            return
        self.stop_watches()
        self.namespace = "" if args[0] == "all" else args[0]  # k9s's `all`, as -A
        self.store.clear()
        self.show_view(self.view_index)
        self.start_watches()
        self.say(f"switched to namespace {self.namespace or 'all'}")
