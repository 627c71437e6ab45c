"""Slash commands: the table of commands, argument completion and parsing.

Dispatch lives in the app (it owns the state); this module is pure so it is tested alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from textual.suggester import Suggester

from k8sclaw.tui._store import INSTANCES, POLICIES, RUNS, Store
from k8sclaw_protocol import (
    CHANNEL_TYPES,
    PROVIDERS,
    TERMINAL_PHASES,
    AgentRun,
    ClawInstance,
    ClawPolicy,
)


@dataclass(frozen=True)
class Command:
    """One slash command: name, aliases, usage, help and what its first argument names."""

    name: str
    usage: str
    help: str
    aliases: tuple[str, ...] = ()
    arg: str = ""  # instances | runs | active-runs | policies | namespaces | types
    arg2: str = ""  # channel-types | instance-channels | providers


COMMANDS: tuple[Command, ...] = (
    Command(
        "run", "run [instance] <task>", "start a run (selected/first instance)", (), "instances"
    ),
    Command("instances", "instances", "Instances view", ("inst",)),
    Command("runs", "runs", "Runs view"),
    Command(
        "channels", "channels [instance]", "Channels view (of one instance)", ("ch",), "instances"
    ),
    Command("policies", "policies", "Policies view", ("pol",)),
    Command("skills", "skills", "Skills view"),
    Command("pods", "pods [instance]", "Pods view (of one instance)", (), "instances"),
    Command("jobs", "jobs", "agent Jobs view"),
    Command("events", "events", "the namespace's Events view", ("ev",)),
    Command(
        "channel",
        "channel <inst> <type> <secret>",
        "add a chat channel to an instance",
        (),
        "instances",
        "channel-types",
    ),
    Command(
        "rmchannel",
        "rmchannel <inst> <type>",
        "remove a chat channel",
        (),
        "instances",
        "instance-channels",
    ),
    Command(
        "provider",
        "provider <inst> <provider> <model>",
        "set an instance's provider and model",
        (),
        "instances",
        "providers",
    ),
    Command("baseurl", "baseurl <inst> <url>", "set an instance's model endpoint", (), "instances"),
    Command("abort", "abort <run>", "stop a run that has not finished", (), "active-runs"),
    Command("result", "result <run>", "show a run's result or error", (), "runs"),
    Command("status", "status [run]", "cluster summary, or one run's status", (), "runs"),
    Command("features", "features <policy>", "feature gates of a policy", (), "policies"),
    Command(
        "delete",
        "delete <type> <name…>",
        "delete, asks first (channel <inst> <type>)",
        (),
        "types",
    ),
    Command("ns", "ns [name]", "show or switch namespace", ("namespace",), "namespaces"),
    Command("ctx", "ctx [name]", "list or switch kubeconfig context", ("context",)),
    Command("onboard", "onboard", "the onboard wizard"),
    Command("help", "help", "keys and commands", ("h", "?")),
    Command("quit", "quit", "leave", ("q", "exit")),
)
DELETE_TYPES = {
    "instance": INSTANCES,
    "inst": INSTANCES,
    "run": RUNS,
    "policy": POLICIES,
    "pol": POLICIES,
}


# A Kubernetes object name (DNS-1123 label): a word that could name an instance.
NAME_PATTERN: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def closest_name(word: str, names: list[str]) -> str | None:
    """The existing name `word` most likely meant (a typo), or None."""
    import difflib

    found = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return found[0] if found else None


def find(word: str) -> Command | None:
    """The command called `word` (name or alias)."""
    return next((c for c in COMMANDS if word in (c.name, *c.aliases)), None)


def parse(line: str) -> tuple[Command | None, list[str], str]:
    """Split `/cmd args...` into the command, its words, and the raw rest of the line."""
    body = line.strip().removeprefix("/")
    word, _, rest = body.partition(" ")
    return find(word.lower()), rest.split(), rest.strip()


def _run_names(store: Store, *, active: bool) -> list[str]:
    runs: list[AgentRun] = store.all(RUNS)
    return sorted(
        r.name for r in runs if not active or not r.status or r.status.phase not in TERMINAL_PHASES
    )


def candidates(line: str, store: Store, namespaces: Callable[[], list[str]]) -> list[str]:
    """Completions of the last word of `line` (full replacement lines, sorted)."""
    body = line.removeprefix("/")
    words = body.split(" ")
    if len(words) == 1:
        return [f"/{c.name}" for c in COMMANDS if c.name.startswith(words[0].lower())]
    command = find(words[0].lower())
    if command is None or not command.arg:
        return []
    head, last = " ".join(words[:-1]), words[-1]
    if command.name == "delete":
        options = _delete_options(words, store)
    elif len(words) == 2:
        options = _arg_options(command.arg, store, namespaces)
    elif len(words) == 3:
        options = _second_options(command.arg2, words[1], store)
    else:
        options = []
    return [f"/{head} {o}" for o in options if o.startswith(last) and o != last]


def _arg_options(arg: str, store: Store, namespaces: Callable[[], list[str]]) -> list[str]:
    if arg == "instances":
        return store.names(INSTANCES)
    if arg in ("runs", "active-runs"):
        return _run_names(store, active=arg == "active-runs")
    if arg == "policies":
        return store.names(POLICIES)
    if arg == "namespaces":
        return namespaces()
    return []


def _second_options(arg2: str, first: str, store: Store) -> list[str]:
    if arg2 == "channel-types":
        return list(CHANNEL_TYPES)
    if arg2 == "providers":
        return list(PROVIDERS)
    if arg2 == "instance-channels":
        inst: ClawInstance | None = store.by_name(INSTANCES, first)
        return sorted(c.type for c in inst.spec.channels) if inst else []
    return []


def _delete_options(words: list[str], store: Store) -> list[str]:
    if len(words) == 2:
        return ["channel", "instance", "policy", "run"]
    if len(words) == 3 and words[1] == "channel":
        return store.names(INSTANCES)
    if len(words) == 3 and words[1] in DELETE_TYPES:
        return store.names(DELETE_TYPES[words[1]])
    if len(words) == 4 and words[1] == "channel":
        return _second_options("instance-channels", words[2], store)
    return []


NAMESPACES = "namespaces"  # completed from the namespace list, not the store


def _detail(kind: str, store: Store, name: str, ns_phases: Mapping[str, str]) -> str:
    """What reference §10.5 shows next to a completed name: phase, or a policy's bindings."""
    if kind == NAMESPACES:
        return ns_phases.get(name, "")
    obj = store.by_name(kind, name)
    if isinstance(obj, ClawPolicy):
        bound = obj.status.bound_instances if obj.status else 0
        return f"{bound} binding{'' if bound == 1 else 's'}"
    if isinstance(obj, ClawInstance | AgentRun):
        return (obj.status.phase if obj.status else None) or "Pending"
    return ""


def _completed_kind(words: list[str]) -> str:
    """The kind the last word of a command line names ("" when it names no object)."""
    command = find(words[0].lower())
    if command is None:
        return ""
    if command.name == "delete":
        if len(words) == 3 and words[1] == "channel":
            return INSTANCES
        return DELETE_TYPES.get(words[1], "") if len(words) == 3 else ""
    arg = command.arg if len(words) == 2 else ""
    kinds = {
        "instances": INSTANCES,
        "runs": RUNS,
        "active-runs": RUNS,
        "policies": POLICIES,
        "namespaces": NAMESPACES,
    }
    return kinds.get(arg, "")


def labelled(
    line: str, found: list[str], store: Store, ns_phases: Mapping[str, str] | None = None
) -> list[str]:
    """Completions `found` for `line`, for display: instances, runs and namespaces with
    their phase, policies with their bindings (`/run al` → `/run alpha (Running)`); the
    command line still inserts the bare name. Callers pass only what they show (lookups
    are linear).
    """
    words = line.removeprefix("/").split(" ")
    kind = _completed_kind(words) if len(words) > 1 else ""
    if not kind:
        return found
    out = []
    for option in found:
        detail = _detail(kind, store, option.rsplit(" ", 1)[-1], ns_phases or {})
        out.append(f"{option} ({detail})" if detail else option)
    return out


class CommandSuggester(Suggester):
    """Inline (ghost text) completion for the command line; Tab or → accepts it."""

    def __init__(self, store: Store, namespaces: Callable[[], list[str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.store = store
        self.namespaces = namespaces

    async def get_suggestion(self, value: str) -> str | None:
        """The first completion of `value`, if any."""
        if not value.startswith("/"):
            return None
        found = candidates(value, self.store, self.namespaces)
        return found[0] if found else None
