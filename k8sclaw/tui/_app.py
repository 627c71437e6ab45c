"""The TUI core: header, view tabs, the generic resource table, feed, command line.

Screens own state: the store is mutated only here, from `RowsChanged` messages that the
watch workers post; keys and slash commands read the store and call `_ops` in workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Input, Static

from k8sclaw.kube import Kube
from k8sclaw.tui import _actions, _ops
from k8sclaw.tui._commands import CommandSuggester
from k8sclaw.tui._feed import Feed
from k8sclaw.tui._livefeed import AnswerStreamed, LiveFeed, active_run
from k8sclaw.tui._messages import ClusterReachable, ClusterUnreachable, RowsChanged
from k8sclaw.tui._store import INSTANCES, KINDS, LAZY_KINDS, RUNS, Store
from k8sclaw.tui._table import ResourceTable
from k8sclaw.tui._views import VIEWS, Row, ViewSpec, object_for
from k8sclaw.tui._watch import Backoff, Watcher

Clock = Callable[[], datetime]
NARROW = 110  # columns: narrower terminals stack the feed under the table


class OpFinished(Message):
    """A cluster operation run in a worker finished; `text` says how."""

    def __init__(self, text: str, *, error: bool = False, hint: str = "") -> None:
        super().__init__()
        self.text = text
        self.error = error
        self.hint = hint


class AppCore(App[int]):
    """State and rendering of the UI; keys and commands are added by `K8sClawApp`."""

    CSS_PATH = "app.tcss"
    TITLE = "K8sClaw"
    # How long a status line stays: long enough to read, short enough that an old error
    # is not mistaken for the state of what is on screen now.
    AGE_SECONDS = 1.0  # AGE/DURATION cells of the rows on screen are recomputed this often
    MESSAGE_SECONDS = 8.0
    ERROR_SECONDS = 20.0
    BINDINGS = _actions.bindings()  # type: ignore[assignment]

    def __init__(
        self,
        kube: Kube | None = None,
        *,
        namespace: str = "default",
        context: str = "",
        clock: Clock | None = None,
        backoff: Callable[[], Backoff] = Backoff,
        readonly: bool = False,
        kubeconfig: str | None = None,
    ) -> None:
        super().__init__()
        self.kube = kube
        self.kubeconfig = kubeconfig  # as given (--kubeconfig), for :ctx
        self.readonly = readonly  # --readonly: every write action hidden and refused
        self.namespace = namespace
        self.context = context or (kube.connection.context if kube else "offline")
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.make_backoff = backoff
        self.store = Store()
        self.view_index = 0
        self.watchers: list[Watcher] = []
        self.down: dict[str, str] = {}
        self.namespace_names: list[str] = []
        self.namespace_phases: dict[str, str] = {}
        self.input_mode = ""
        self.live = LiveFeed(self.post_message)
        self._message_timer: Timer | None = None

    @property
    def all_namespaces(self) -> bool:
        """-A (or `:ns all`): every namespace is watched; `namespace` is then ""."""
        return not self.namespace

    def ns_of(self, obj: Any) -> str:
        """The namespace to act on `obj` in: the one shown, or its own with -A."""
        return self.namespace or str(obj.namespace)

    def need_namespace(self, what: str) -> bool:
        """With -A there is no namespace to create in: say so (False) rather than guess."""
        if self.all_namespaces:
            self.say(f"{what} needs one namespace: :ns NAME first (showing all)", error=True)
        return not self.all_namespaces

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """With --readonly, write actions are off (and hidden); their refusals on."""
        if action == "refuse_readonly":
            return self.readonly
        return not (self.readonly and action in _actions.WRITE_ACTIONS)

    def action_refuse_readonly(self, what: str) -> None:
        """A write key pressed in --readonly mode: say so."""
        self.say(f"{what} is disabled: k8sclaw was started with --readonly", error=True)

    @property
    def view(self) -> ViewSpec:
        """The view on screen."""
        return VIEWS[self.view_index]

    @property
    def table(self) -> ResourceTable:
        """The resource table."""
        return self.query_one(ResourceTable)

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield Static(id="banner")
        yield Static(id="tabs")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield ResourceTable(id="table")
                yield Static(id="empty")
            yield Feed(id="feed-pane")
        yield Static(id="message")
        yield Input(
            id="command",
            suggester=CommandSuggester(self.store, lambda: self.namespace_names),
            select_on_focus=False,
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#banner").display = False
        self._set_layout(self.size.width)
        self.query_one("#command").display = False
        self.show_view(0)
        self.start_watches()
        self.set_interval(self.AGE_SECONDS, self.tick_ages)

    def on_resize(self, event: events.Resize) -> None:
        self._set_layout(event.size.width)

    def _set_layout(self, width: int) -> None:
        """Below `NARROW` columns the feed stacks under the table instead of beside it."""
        self.query_one("#main").set_class(width < NARROW, "narrow")

    def on_unmount(self) -> None:
        self.stop_watches()
        self.live.stop()

    # -- watches ----------------------------------------------------------------------

    def start_watches(self) -> None:
        """One list+watch worker per kind for the current namespace."""
        if self.kube is None:
            return
        for kind in KINDS:
            self._watch(kind)
        self._load_namespaces()

    def _watch(self, kind: str) -> None:
        """Start the list+watch worker of `kind` in the current namespace, once."""
        if self.kube is None or any(w.kind == kind for w in self.watchers):
            return
        watcher = Watcher(self.kube, kind, self.namespace, self.post_message, self.make_backoff())
        self.watchers.append(watcher)
        # Its own thread, not a textual thread worker: workers share asyncio's default
        # executor (cpu+4 threads), and five never-ending watches would starve it.
        threading.Thread(target=watcher.run, name=f"watch-{kind}", daemon=True).start()

    def stop_watches(self) -> None:
        """Stop every watch worker (namespace switch, exit)."""
        for watcher in self.watchers:
            watcher.stop()
        self.watchers = []
        self.live.stop()

    @work(thread=True, group="lookup", exit_on_error=False)
    def _load_namespaces(self) -> None:
        if self.kube is not None:
            phases = _ops.namespaces(self.kube)
            self.namespace_phases, self.namespace_names = phases, sorted(phases)

    def on_rows_changed(self, msg: RowsChanged) -> None:
        changed, removed = self.store.apply(msg.kind, msg.upserted, msg.deleted, reset=msg.reset)
        if not self.query("ResourceTable"):  # not composed yet: the store is painted on mount
            return
        if msg.kind == self.view.kind:
            self.refresh_rows(changed, removed, full=msg.reset)
        if msg.kind in (INSTANCES, RUNS):
            self.refresh_feed()
        self.refresh_header()

    def on_cluster_unreachable(self, msg: ClusterUnreachable) -> None:
        self.down[msg.kind] = msg.reason
        banner = self.query_one("#banner", Static)
        banner.update(
            f"⚠ cluster unreachable: {msg.reason} — retrying in {msg.retry_in:g}s "
            "(showing the last known state)"
        )
        banner.display = True
        self.refresh_header()

    def on_cluster_reachable(self, msg: ClusterReachable) -> None:
        self.down.pop(msg.kind, None)
        if not self.down:
            self.query_one("#banner").display = False
        self.refresh_header()

    # -- rendering --------------------------------------------------------------------

    def show_view(self, index: int) -> None:
        """Switch the table to view `index` (keeps the filter text)."""
        self.view_index = index % len(VIEWS)
        if self.view.kind in LAZY_KINDS:
            self._watch(self.view.kind)
        table = self.table
        every = ("NAMESPACE",) if self.all_namespaces else ()  # kubectl's -A column
        table.set_columns((*every, *self.view.headers))
        self.refresh_rows(None, set(), full=True)
        self.query_one("#tabs", Static).update(self._tabs())
        self.query_one(Feed).display = self.view.kind in (INSTANCES, RUNS)
        self.refresh_feed()
        self.refresh_header()
        table.focus()

    def refresh_rows(self, changed: set[str] | None, removed: set[str], *, full: bool) -> None:
        """Bring the table up to date with the store (only `changed` unless `full`)."""
        view, now = self.view, self.clock()
        if full or view.derived or changed is None:
            self.table.sync(self._namespaced(view.rows(self.store, None, now)), full=True)
        else:
            self.table.sync(self._namespaced(view.rows(self.store, changed, now)), removed)
        empty = self.query_one("#empty", Static)
        empty.update(view.empty if not self.table.rows_all else "")
        empty.display = not self.table.rows_all

    def _namespaced(self, rows: dict[str, Row]) -> dict[str, Row]:
        """With -A, each row starts with its object's namespace (else: as they are)."""
        if not self.all_namespaces:
            return rows
        out = {}
        for key, row in rows.items():
            obj = object_for(self.store, self.view, key)
            out[key] = (str(obj.namespace) if obj is not None else "", *row)
        return out

    def tick_ages(self) -> None:
        """Ages move on without an event: recompute the visible rows (only those; with
        10,000 runs a full rebuild every second would cost more than the watch itself)."""
        if not self.is_running or not self.query(ResourceTable):  # closing down
            return
        if self.view.derived:
            self.refresh_rows(None, set(), full=True)
        else:
            self.refresh_rows(self.table.visible_keys(), set(), full=False)

    def refresh_header(self) -> None:
        """Context, namespace, connection state and counts."""
        counts = self.store.counts()
        state = "[red]● unreachable[/]" if self.down else "[green]● connected[/]"
        if self.kube is None:
            state = "[dim]● offline[/]"
        channels = sum(len(i.spec.channels) for i in self.store.all(INSTANCES))
        headers = self.query("#header").results(Static)
        header = next(headers, None)
        if header is None:  # a watch reported before the first compose or after teardown
            return
        header.update(
            f"[b #E94560] K8sClaw [/] {state} ctx:[b]{self.context}[/] "
            f"ns:[b]{self.namespace or 'all'}[/] "
            f"{counts['instances']} inst {counts['runs']} runs {counts['policies']} pol "
            f"{channels} ch {counts['skills']} sp {counts['pods']} pods"
        )

    def _tabs(self) -> str:
        parts = []
        for i, view in enumerate(VIEWS):
            if not view.tab and i != self.view_index:
                continue
            label = f" {i + 1}:{view.title} " if view.tab else f" :{view.name} "
            parts.append(f"[reverse b]{label}[/]" if i == self.view_index else label)
        filt = f"  filter:[b]{self.table.filter_text}[/]" if self.table.filter_text else ""
        return "".join(parts) + filt

    def refresh_feed(self) -> None:
        """Re-render the feed for the instance of the selected row; follow its running run."""
        if self.view.kind not in (INSTANCES, RUNS):
            self.live.stop()
            return
        instance = self.selected_instance()
        run = active_run(self.store, instance)
        self.live.follow(self.kube, self.ns_of(run) if run else self.namespace, run)
        self.query_one(Feed).show(self.store, instance, self.live.answer)

    def on_answer_streamed(self, msg: AnswerStreamed) -> None:
        if self.live.add(msg):
            self.refresh_feed()

    def selected(self) -> Any | None:
        """The store object behind the highlighted row."""
        key = self.table.current_key()
        return None if key is None else object_for(self.store, self.view, key)

    def selected_instance(self) -> str | None:
        """The instance the selection belongs to (else the first instance)."""
        obj = self.selected()
        if obj is not None and self.view.kind == INSTANCES:
            return str(obj.name)
        if obj is not None and self.view.kind == RUNS:
            return str(obj.spec.instance_ref)
        names = self.store.names(INSTANCES)
        return names[0] if names else None

    def say(self, text: str, *, error: bool = False, hint: str = "") -> None:
        """Feedback under the table (wrapping onto a second line rather than losing the hint),
        cleared after MESSAGE_SECONDS (ERROR_SECONDS for errors). Plain text, never markup:
        error messages quote server and agent text."""
        line = Text(f"✗ {text}", style="red") if error else Text(text)
        if hint:
            line.append(f"  hint: {hint}")
        self.query_one("#message", Static).update(line)
        if self._message_timer is not None:
            self._message_timer.stop()
        ttl = self.ERROR_SECONDS if error else self.MESSAGE_SECONDS
        self._message_timer = self.set_timer(ttl, self._clear_message) if text else None

    def _clear_message(self) -> None:
        self._message_timer = None
        self.query_one("#message", Static).update("")

    def on_op_finished(self, msg: OpFinished) -> None:
        self.say(msg.text, error=msg.error, hint=msg.hint)

    @on(ResourceTable.Highlighted)
    def _highlighted(self) -> None:
        feed = self.query_one(Feed)
        if feed.instance != self.selected_instance():
            self.refresh_feed()

    @work(thread=True, group="ops", exit_on_error=False)
    def run_op(self, fn: Callable[[], str]) -> None:
        """Run a cluster call in a worker; its result line (or error) comes back as a message."""
        try:
            self.post_message(OpFinished(fn()))
        except Exception as exc:
            hint = str(getattr(exc, "hint", "") or "")  # KubeError says how to fix it
            self.post_message(OpFinished(" ".join(str(exc).split()), error=True, hint=hint))
