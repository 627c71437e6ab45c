"""The router: chat messages in, AgentRuns out; finished runs in, replies out.

Two durable JetStream consumers (`channel.message.received`, `channel.message.send`) and
one watch of the AgentRuns that name a source chat (label `source-channel`): those it
created, and heartbeat runs of a ClawSchedule with `deliverTo`, answered the same way.
Everything it must remember across a restart lives where it survives one: a message is
acknowledged only once its run exists (deterministic name, so a redelivery meets 409
AlreadyExists), and a run is marked `reply-sent` only once its reply is on the bus (the
reply's id is the run uid, so a repeat after a crash is dropped by the stream and by the
channel pod).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from k8sclaw_controllers.manager import _informer, _kube
from k8sclaw_controllers.router import _history, _outbound, _replies, _runs
from k8sclaw_controllers.router._keys import Conversation, run_name
from k8sclaw_controllers.router._state import Chat, ChatKey, Waiting, answered, chat_key, queued
from k8sclaw_controllers.transcripts import TranscriptStore
from k8sclaw_protocol import AgentRun, Event, EventBus, events, names
from k8sclaw_protocol._bus import Subscription
from k8sclaw_protocol._chat import InboundMessage

log = logging.getLogger("k8sclaw.router")

OnAction = Callable[[str, str, InboundMessage], Awaitable[None]]
"""Receives button presses: (namespace, instance, message); the approvals stream."""
DURABLE: Final = "router"
TYPING_SECONDS: Final = 4.0
"""How often a typing indicator is sent while a run is in progress."""
RETRY_SECONDS: Final = 1.0
"""Delay before a failed step (API server or bus away) is tried again."""
RunKey = tuple[str, str]


@dataclass
class RouterStats:
    """Counters for tests, the benchmark and metrics."""

    runs_created: int = 0
    replies: int = 0
    queued_notices: int = 0
    sends_delivered: int = 0
    actions: int = 0
    dropped: int = 0
    duplicates: int = 0


class Router:
    """Route chat messages to runs and results back to chats until cancelled."""

    def __init__(
        self,
        bus: EventBus,
        kube: _kube.Kube,
        store: TranscriptStore | None,
        *,
        on_action: OnAction | None = None,
        typing_seconds: float = TYPING_SECONDS,
        durable: str = DURABLE,
        namespace: str | None = None,
    ) -> None:
        self._bus, self._kube = bus, kube
        self._store = _history.BatchedReads(store) if store is not None else None
        self._namespace = namespace  # None: every namespace (the shipped setup)
        self._on_action, self._typing_seconds, self._durable = on_action, typing_seconds, durable
        self.runs: dict[RunKey, AgentRun] = {}
        self.chats: dict[ChatKey, Chat] = {}
        self._typing: dict[RunKey, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._informer = _informer.Informer(self._on_run)
        self._instances = _runs.InstanceCache(kube)
        self.histories = _history.HistoryCache()
        self.drop_notes = _outbound.DropNotes()
        self._inbound: Subscription | None = None
        self.ready = asyncio.Event()
        self.stats = RouterStats()
        self.created_at: dict[RunKey, float] = {}
        """Monotonic time each run was created by this router (the benchmark reads it)."""

    async def run(self) -> None:
        """Watch runs, then consume both topics; returns only by cancellation."""
        path = _kube.collection(names.GROUP_VERSION, _runs.PLURAL, self._namespace)
        selector = names.LABEL_SOURCE_CHANNEL  # chat runs, and heartbeats with deliverTo
        watch = asyncio.create_task(_informer.list_watch(self._kube, path, self, selector))
        try:
            await self._informer.synced.wait()
            inbound = self._bus.subscribe(
                events.scoped_filter(events.CHANNEL_MESSAGE_RECEIVED),
                durable=f"{self._durable}-inbound",
                manual_ack=True,
            )
            sends = self._bus.subscribe(
                events.scoped_filter(events.CHANNEL_MESSAGE_SEND),
                durable=f"{self._durable}-send",
                manual_ack=True,
            )
            async with inbound, sends:
                self._inbound = inbound
                self.ready.set()
                await asyncio.gather(self._consume_inbound(inbound), self._consume_sends(sends))
        finally:
            await self._stop(watch)

    async def _stop(self, watch: asyncio.Task[None]) -> None:
        tasks = [watch, *self._typing.values(), *self._tasks, *self._informer.tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- the AgentRun watch (a `Sink`): state updated at once, work done per run in order

    def listed(self, items: list[dict[str, Any]]) -> None:
        for body in items:
            self._track(body, None)
        self._informer.listed(items)

    def changed(self, kind: str, obj: dict[str, Any]) -> None:
        self._track(obj, kind)
        self._informer.changed(kind, obj)

    def interrupted(self) -> None:
        self._informer.interrupted()

    def _track(self, body: dict[str, Any], kind: str | None) -> None:
        if kind == "DELETED":
            return  # the handler forgets it (also for vanished runs a re-list reports)
        run = _parse(body)
        if run is None:
            return
        chat = self._remember(run)
        if chat.active is None and not answered(run):
            chat.active = run.name

    async def _on_run(self, body: dict[str, Any], kind: str | None) -> None:
        key = _informer.object_key(body)
        if kind == "DELETED":
            self._forget(key)
            return
        run = self._parsed(key, body)
        if run is None:
            return
        try:
            if run.is_terminal:
                await self._finished(run)
            else:
                await self._in_progress(run)
        except Exception as exc:
            log.warning("run %s/%s: %s; trying again", run.namespace, run.name, exc)
            self._later(lambda: self._informer.changed("MODIFIED", body))

    def _parsed(self, key: RunKey, body: dict[str, Any]) -> AgentRun | None:
        """`body` as a run: the copy `_track` made of this same version if it is still the
        newest (one parse per watch event, not two), else parsed again."""
        known = self.runs.get(key)
        version = (body.get("metadata") or {}).get("resourceVersion")
        if known is not None and version and known.metadata.resource_version == version:
            return known
        return _parse(body)

    def _forget(self, key: RunKey) -> None:
        run = self.runs.pop(key, None)
        self._stop_typing(key)
        if run is None:
            return
        chat = self._chat(chat_key(run))
        chat.runs.discard(run.name)
        if chat.active == run.name:
            chat.active = None
            self._spawn(self._pump(chat_key(run)))

    async def _in_progress(self, run: AgentRun) -> None:
        if run.metadata.labels.get(names.LABEL_COMPONENT) != "router":
            return  # a heartbeat: nobody in the chat is waiting, so no typing or "queued"
        key = (run.namespace, run.name)
        if key not in self._typing:
            self._typing[key] = asyncio.create_task(self._keep_typing(run))
        if queued(run) and names.ANNOTATION_QUEUED_SENT not in run.metadata.annotations:
            delivery = _replies.delivery_for(
                run, f"{run.metadata.uid}-queued", "text", _replies.QUEUED_TEXT
            )
            await _replies.publish(
                self._bus, run.namespace, run.spec.instance_ref, delivery, retry=True
            )
            await _runs.annotate(self._kube, run, names.ANNOTATION_QUEUED_SENT)
            self.stats.queued_notices += 1

    async def _finished(self, run: AgentRun) -> None:
        key = (run.namespace, run.name)
        self._stop_typing(key)
        if names.ANNOTATION_REPLY_SENT not in run.metadata.annotations:
            delivery = _replies.delivery_for(
                run, run.metadata.uid or run.name, "text", _replies.reply_text(run)
            )
            await _replies.publish(
                self._bus, run.namespace, run.spec.instance_ref, delivery, retry=True
            )
            await _runs.annotate(self._kube, run, names.ANNOTATION_REPLY_SENT)
            run.metadata.annotations[names.ANNOTATION_REPLY_SENT] = "true"
            self.stats.replies += 1
        chat = self._remember(run)
        self.histories.note(run)
        if chat.active in (None, run.name):
            chat.active = None
            self._spawn(self._pump(chat_key(run)))

    async def _keep_typing(self, run: AgentRun) -> None:
        """Typing indicators until the run finishes (ids by time: a restart repeats none)."""
        while True:
            stamp = int(time.time() / self._typing_seconds)
            delivery = _replies.delivery_for(run, f"{run.metadata.uid}-typing-{stamp}", "typing")
            with contextlib.suppress(Exception):
                await _replies.signal(self._bus, run.namespace, run.spec.instance_ref, delivery)
            await asyncio.sleep(self._typing_seconds)

    def _stop_typing(self, key: RunKey) -> None:
        task = self._typing.pop(key, None)
        if task is not None:
            task.cancel()

    # --- inbound chat messages

    async def _consume_inbound(self, sub: Subscription) -> None:
        async for event in sub:
            try:
                await self._on_inbound(sub, event)
            except Exception:
                log.exception("inbound message %s not handled; acknowledged", event.sequence)
                await sub.ack(event)

    async def _on_inbound(self, sub: Subscription, event: Event) -> None:
        scoped = events.parse_subject(event.subject or "")
        try:
            message = InboundMessage.model_validate(event.data)
        except ValidationError as exc:
            log.warning("malformed chat message on %s dropped: %s", event.subject, exc)
            self.stats.dropped += 1
            await sub.ack(event)
            return
        if message.action is not None:
            await self._action(scoped.namespace, scoped.name, message)
            await sub.ack(event)
            return
        if not message.text.strip():
            await sub.ack(event)
            return
        conversation = Conversation.of(scoped.namespace, scoped.name, message)
        chat = self._chat(conversation.key)
        held = chat.held(message)
        if held is not None:
            if held.event.sequence != event.sequence:  # published twice: drop the copy
                self.stats.duplicates += 1
                await sub.ack(event)
            return  # else the server redelivered the waiting one: keep it unacknowledged
        if (scoped.namespace, run_name(conversation, message.message_id)) in self.runs:
            self.stats.duplicates += 1  # its run exists: a redelivery or a platform retry
            await sub.ack(event)
            return
        chat.waiting.append(Waiting(event, message, conversation))
        self._spawn(self._pump(conversation.key))

    async def _action(self, namespace: str, instance: str, message: InboundMessage) -> None:
        self.stats.actions += 1
        if self._on_action is None:
            log.info("button press in %s/%s ignored: no approvals handler", namespace, instance)
            return
        try:
            await self._on_action(namespace, instance, message)
        except Exception:
            log.exception("approvals handler failed for a press in %s/%s", namespace, instance)

    async def _pump(self, key: ChatKey) -> None:
        """Start the next waiting message of a conversation once none is in progress."""
        chat = self._chat(key)
        async with chat.lock:
            while chat.active is None and chat.waiting:
                waiting = chat.waiting[0]
                try:
                    run = await self._start(waiting)
                except Exception as exc:
                    log.warning("cannot start a run for a chat message (%s); retrying", exc)
                    self._later(lambda: self._spawn(self._pump(key)))
                    return
                chat.waiting.popleft()
                if self._inbound is not None:
                    await self._inbound.ack(waiting.event)
                if run is not None and not answered(self.runs.get(_key(run), run)):
                    chat.active = run.name

    async def _start(self, waiting: Waiting) -> AgentRun | None:
        conversation, message = waiting.conversation, waiting.message
        ns = conversation.namespace
        instance = await self._instances.get(ns, conversation.instance)
        if instance is None:
            log.warning(
                "chat message for unknown instance %s/%s dropped", ns, conversation.instance
            )
            self.stats.dropped += 1
            return None
        chat_runs = (self.runs.get((ns, name)) for name in self._chat(conversation.key).runs)
        watched = [r for r in chat_runs if r is not None]
        history = await _history.conversation_history(
            self._store, ns, conversation.session_key, watched, self.histories
        )
        wanted = _runs.chat_run(instance, conversation, message, history)
        run = await _runs.create_once(self._kube, wanted)
        if _key(run) not in self.runs:  # else the watch was first: keep its newer copy
            self._remember(run)
        self.created_at.setdefault(_key(run), time.monotonic())
        self.stats.runs_created += 1
        return run

    # --- send_channel_message from runs

    async def _consume_sends(self, sub: Subscription) -> None:
        async for event in sub:
            try:
                delivered = await _outbound.handle_send(
                    self._bus, self._kube, event, self.drop_notes
                )
            except Exception as exc:
                log.warning("send_channel_message %s not handled (%s)", event.sequence, exc)
                delivered = False
            if delivered:
                self.stats.sends_delivered += 1
            else:
                self.stats.dropped += 1
            await sub.ack(event)

    # --- helpers

    def _remember(self, run: AgentRun) -> Chat:
        """Track `run` (newest copy) and index it under its conversation."""
        self.runs[_key(run)] = run
        chat = self._chat(chat_key(run))
        chat.runs.add(run.name)
        return chat

    def _chat(self, key: ChatKey) -> Chat:
        chat = self.chats.get(key)
        if chat is None:
            chat = self.chats[key] = Chat()
        return chat

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _later(self, action: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_later(RETRY_SECONDS, action)


def _key(run: AgentRun) -> RunKey:
    return run.namespace, run.name


def _parse(body: dict[str, Any]) -> AgentRun | None:
    """A chat run the router tracks; None for anything else (or a body it cannot read)."""
    try:
        run = AgentRun.from_wire(body)
    except ValidationError as exc:
        log.warning("unreadable AgentRun %s/%s: %s", *_informer.object_key(body), exc)
        return None
    if not _replies.is_chat_run(run) or names.LABEL_CHAT_SESSION not in run.metadata.labels:
        return None
    return run


async def run_router(
    url: str,
    credentials: Any,
    kube: _kube.Kube,
    transcripts: TranscriptStore | None,
    *,
    on_action: OnAction | None = None,
) -> None:
    """Connect as the router's bus identity and route until cancelled (what
    `k8sclaw-apiserver` starts as a task when the router creds are configured). Without
    `on_action`, button presses go to the approval relay, which runs beside the router."""
    bus = await EventBus.connect(
        url, name="k8sclaw-router", credentials=credentials, manage_stream=False
    )
    try:
        if on_action is not None:
            await Router(bus, kube, transcripts, on_action=on_action).run()
            return
        # Approval cards and button presses ride the same identity and connection: the
        # relay posts cards to the source chats and decides presses by the approvers.
        from k8sclaw_controllers.approvals import ApprovalRelay

        relay = ApprovalRelay(bus, kube)
        async with asyncio.TaskGroup() as group:
            group.create_task(relay.run(), name="router-approvals")
            group.create_task(Router(bus, kube, transcripts, on_action=relay.on_action).run())
    finally:
        await bus.close()
