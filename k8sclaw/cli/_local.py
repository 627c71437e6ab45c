"""The CLI side of local runs: `run --local`, `runs logs --local`, `runs list --local`.

Everything is checked before anything starts: the model (else the how-to-configure
message and exit 2), the policy and skill files, and the `k8sclaw[local]` extra.
The run itself is `k8sclaw.local.run_local`; Ctrl-C stops every process it started and
exits 130.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from k8sclaw.cli._errors import CliError
from k8sclaw.render import terminal_safe

if TYPE_CHECKING:
    from k8sclaw_protocol import Resource

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INTERRUPTED = 130
DEFAULT_TIMEOUT = 600.0


def run_options(func: F) -> F:
    """The flags of `run` that only a local run reads."""
    options = [
        click.option(
            "--local", is_flag=True, help="Run on this machine (no cluster): see docs/local.md."
        ),
        click.option("--policy", "policy", metavar="FILE", help="Local: a ClawPolicy YAML."),
        click.option(
            "--skill", "skills", metavar="FILE", multiple=True, help="Local: a SkillPack YAML."
        ),
        click.option("--provider", metavar="NAME", help="Local: openai, anthropic, ollama, ..."),
        click.option("--model", metavar="NAME", help="Local: the model name."),
        click.option("--base-url", metavar="URL", help="Local: the model API's base URL."),
        click.option(
            "--workspace",
            metavar="DIR",
            help="Local: the agent's /workspace (default: temp).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def seconds(duration: str | None) -> float:
    """`1h30m` → 5400.0 (the format `--timeout` already checked)."""
    if not duration:
        return DEFAULT_TIMEOUT
    units = {"h": 3600, "m": 60, "s": 1}
    return float(sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration)))


def _load(path: str, kind: type[Resource]) -> list[Any]:
    """Every `kind` document of a YAML file, validated; a CliError names what is wrong."""
    import yaml
    from pydantic import ValidationError

    try:
        docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read {path}: {exc}", exit_code=2) from exc
    wanted = kind.info.kind
    found = [d for d in docs if isinstance(d, dict) and d.get("kind") == wanted]
    if not found:
        raise CliError(
            f"{path} holds no {wanted}", hint=f"give a file with `kind: {wanted}`", exit_code=2
        )
    try:
        return [kind.model_validate(d) for d in found]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CliError(f"{path}: {where}: {first['msg']}", exit_code=2) from exc


def run_local_command(task: str, timeout: str | None, opts: dict[str, Any]) -> None:
    """`k8sclaw run --local TASK`: exits with the run's code (0 success, 1 failure)."""
    import asyncio

    from k8sclaw import local
    from k8sclaw.local import _layout, _nats
    from k8sclaw_protocol import ClawPolicy, SkillPack

    ctx = click.get_current_context()
    try:
        model = local.resolve_model(opts["provider"], opts["model"], opts["base_url"])
    except local.NoModelError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
    policy = _load(opts["policy"], ClawPolicy)[0] if opts["policy"] else None
    skills = tuple(pack for f in opts["skills"] for pack in _load(f, SkillPack))
    try:
        _nats.nats_binary()
        for component in _layout.ENTRY_POINTS:
            _layout.entry_point(component)
    except local.MissingExtraError as exc:
        raise CliError(str(exc), exit_code=exc.exit_code) from exc
    workspace = Path(opts["workspace"]).resolve() if opts["workspace"] else None
    spec = local.LocalRun(task, model, policy, skills, workspace, seconds(timeout))
    try:
        code = asyncio.run(local.run_local(spec))
    except (RuntimeError, OSError) as exc:  # the bus or a process did not start
        raise CliError(f"the local run could not start: {exc}") from exc
    except KeyboardInterrupt:
        click.echo("interrupted: the local run and every process it started were stopped", err=True)
        code = EXIT_INTERRUPTED
    ctx.exit(code)


def show_transcript(name: str | None) -> None:
    """`runs logs --local [NAME]`: the last (or named) local run's transcript."""
    from k8sclaw.local import Transcripts

    store = Transcripts()
    row = store.get(name)
    if row is None:
        what = f'local run "{name}"' if name else "no local run"
        raise CliError(
            f"{what} not found" if name else "no local run yet",
            hint='start one with `k8sclaw run --local "<task>"`; list them with '
            "`k8sclaw runs list --local`",
            exit_code=7,
        )
    click.echo(f"local run {row.name} ({row.status}): {terminal_safe(row.task)}", err=True)
    line_open, segment = False, ""
    for kind, text in store.entries(row.name):
        safe = terminal_safe(text)
        if kind == "text":
            click.echo(safe, nl=False)
            line_open, segment = not safe.endswith("\n"), segment + safe
            continue
        segment = "" if kind == "tool" else segment
        if line_open:
            click.echo("")
            line_open = False
        if kind == "tool":
            click.secho(safe, dim=True)
        elif kind == "log":
            click.echo(safe, err=True)
    if line_open:
        click.echo("")
    answer = terminal_safe(row.result or "").strip()
    if row.status == "Succeeded" and answer and answer != segment.strip():
        click.echo(answer)  # the model did not stream it (or not all of it)
    if row.status != "Succeeded" and row.result:
        click.echo(f"error: {terminal_safe(row.result)}", err=True)


def list_runs() -> None:
    """`runs list --local`: name, status, age and task of each local run, newest first."""
    from datetime import UTC, datetime

    from k8sclaw.local import Transcripts
    from k8sclaw.render import age

    rows = Transcripts().runs()
    if not rows:
        click.echo("no local runs", err=True)
        return
    now = datetime.now(UTC)
    click.echo(f"{'NAME':<32} {'STATUS':<12} {'AGE':<6} TASK")
    for row in rows:
        task = terminal_safe(row.task).replace("\n", " ")
        task = task if len(task) <= 60 else task[:59] + "…"
        started = age(datetime.fromtimestamp(row.started, UTC), now)
        click.echo(f"{row.name:<32} {row.status:<12} {started:<6} {task}")


def with_local_list(command: click.Command) -> click.Command:
    """Give the generic `runs list` a `--local` flag that lists local runs instead."""
    command.params.append(
        click.Option(["--local"], is_flag=True, help="List the runs made with `run --local`.")
    )
    inner = command.callback
    assert inner is not None

    @functools.wraps(inner)
    def callback(*args: Any, local: bool = False, **kwargs: Any) -> Any:
        if local:
            return list_runs()
        return inner(*args, **kwargs)

    command.callback = callback
    return command
