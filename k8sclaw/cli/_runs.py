"""`k8sclaw runs list|get|logs|create|delete` and `k8sclaw run "<task>"`.

Runs are created only through `k8sclaw_protocol.build_run` (source "cli"), so a CLI run
carries the instance's provider, secret, model, skills and labels like every other run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from k8sclaw.cli import _common, _local, _output, _resources
from k8sclaw.cli._errors import CliError
from k8sclaw.render import terminal_safe

if TYPE_CHECKING:
    from k8sclaw.kube import Kube
    from k8sclaw_protocol import AgentRun, ClawInstance

# The protocol (pydantic) is imported inside the commands that need models, so that
# `runs list` (the fast read path) never loads it.
runs = _resources.group("runs", "AgentRun", verbs=("list", "delete"))
_local.with_local_list(runs.commands["list"])


@_common.cluster_options()
@_common.translating
def _show_tree(name: str, target: _common.Target) -> None:
    """Print run `name` with its sub-agent runs indented under it, with their phases."""
    from k8sclaw.kube._kinds import not_found
    from k8sclaw.render._tree import lineage, run_tree, tree_lines
    from k8sclaw_protocol import names

    found = target.kube().list_raw(names.GROUP_VERSION, "AgentRun", target.ns())
    rows = run_tree(name, (lineage(item) for item in found))
    if not rows:
        raise not_found("AgentRun", "agentrun", "runs", name, target.ns())
    for line in tree_lines(rows):
        click.echo(terminal_safe(line))


def _get_command() -> click.Command:
    """The generic `runs get` plus `--tree`."""
    plain = _resources.get_command("AgentRun")
    assert plain.callback is not None
    show = plain.callback

    def callback(tree: bool, output: str, **kwargs: Any) -> None:
        if tree:
            _show_tree(**kwargs)
        else:
            show(output=output, **kwargs)

    tree = click.Option(
        ["--tree"], is_flag=True, help="Show the run with its sub-agent runs, indented."
    )
    return click.Command("get", callback=callback, params=[*plain.params, tree], help=plain.help)


runs.add_command(_get_command())


def _pick_instance(kube: Kube, namespace: str, wanted: str | None) -> ClawInstance:
    """The named instance, or the only one in the namespace."""
    from k8sclaw.kube import NotFoundError
    from k8sclaw_protocol import ClawInstance

    if wanted:
        try:
            return kube.get(ClawInstance, wanted, namespace)
        except NotFoundError as exc:
            raise CliError(
                f'instance "{wanted}" not found in namespace {namespace}',
                hint="see `k8sclaw instances list`, or create one with `k8sclaw onboard`",
                exit_code=exc.exit_code,
            ) from exc
    found = kube.list(ClawInstance, namespace)
    if len(found) == 1:
        return found[0]
    if not found:
        raise CliError(
            f"no ClawInstance in namespace {namespace}",
            hint="create one with `k8sclaw onboard`, or pick a namespace with -n",
            exit_code=7,
        )
    known = ", ".join(sorted(i.name for i in found))
    raise CliError(
        f"{len(found)} instances in {namespace} ({known})", hint="pick one with --instance"
    )


def _create(
    target: _common.Target, task: str, instance: str | None, timeout: str | None
) -> AgentRun:
    from k8sclaw_protocol import build_run

    kube = target.kube()
    inst = _pick_instance(kube, target.ns(), instance)
    run = build_run(inst, task, source="cli", timeout=timeout)
    created = kube.create(run)
    click.echo(f"agentrun/{created.name} created", err=True)
    return created


def _wait(kube: Kube, run: AgentRun) -> AgentRun:
    """Block until the run reaches a terminal phase (watch, no polling)."""
    from k8sclaw_protocol import TERMINAL_PHASES, AgentRun

    current = run
    while (current.status.phase if current.status else None) not in TERMINAL_PHASES:
        rv = current.metadata.resource_version or ""
        for _, obj in kube.watch(AgentRun, run.namespace, resource_version=rv):
            if obj.name == run.name:
                current = obj
                if current.status and current.status.phase in TERMINAL_PHASES:
                    break
        else:
            current = kube.get(AgentRun, run.name, run.namespace)
    return current


def _finish(run: AgentRun, *, shown: bool = False) -> None:
    """Print the result (unless `shown`: the followed log already printed the answer)."""
    status = run.status
    if status and status.phase == "Succeeded":
        if not shown:
            click.echo(terminal_safe(status.result or ""))
        return
    error = terminal_safe((status.error if status else None) or "no error recorded")
    raise CliError(
        f"agentrun/{run.name} failed: {error}",
        hint=f"see `k8sclaw runs get {run.name}` and `k8sclaw runs logs {run.name}`",
    )


@runs.command("create")
@click.argument("task")
@click.option(
    "--instance", "instance", metavar="NAME", help="ClawInstance (default: the only one)."
)
@_common.timeout_option()
@_common.cluster_options()
@_common.output_option("name")
@_common.translating
def create(
    task: str, instance: str | None, timeout: str | None, target: _common.Target, output: str
) -> None:
    """Create an AgentRun for TASK from an instance's defaults."""
    _output.print_one(_create(target, task, instance, timeout), output)


@click.command("run")
@click.argument("task")
@click.option(
    "--instance", "instance", metavar="NAME", help="ClawInstance (default: the only one)."
)
@_common.timeout_option()
@click.option("--wait", is_flag=True, help="Wait for the result and print it.")
@click.option("-f", "--follow", is_flag=True, help="Stream the agent's log, then print the result.")
@_local.run_options
@_common.cluster_options()
@_common.translating
def run(
    task: str,
    *,
    instance: str | None,
    timeout: str | None,
    wait: bool,
    follow: bool,
    target: _common.Target,
    local: bool,
    **local_opts: Any,
) -> None:
    """Start an agent run for TASK (e.g. k8sclaw run "summarise the open issues").

    With --local the run happens on this machine: no cluster, an embedded bus, the model
    from --provider/--model/--base-url, the environment or the config file.
    """
    if local:
        _local.run_local_command(task, timeout, local_opts)
        return
    created = _create(target, task, instance, timeout)
    shown = False
    if follow:
        from k8sclaw.cli import _logs

        shown = _logs.stream(target.kube(), created, follow=True)
    if wait or follow:
        _finish(_wait(target.kube(), created), shown=shown)
    else:
        click.echo(f"agentrun/{created.name}")


@runs.command("logs")
@click.argument("name", required=False)
@click.option("-f", "--follow", is_flag=True, help="Follow the log until the run ends.")
@click.option("--local", is_flag=True, help="A local run's transcript (default: the last).")
@_common.cluster_options()
@_common.translating
def logs(name: str | None, follow: bool, local: bool, target: _common.Target) -> None:
    """Print the transcript of run NAME, also after its pod is gone (--local: of a local
    run). Without the transcript API installed, the agent container's log."""
    if local:
        _local.show_transcript(name)
        return
    if name is None:
        raise click.UsageError("missing argument NAME (or pass --local)")
    from k8sclaw.cli import _logs, _transcripts
    from k8sclaw_protocol import AgentRun

    kube = target.kube()
    why = _transcripts.unavailable(kube)
    if why is None:
        _transcripts.show(kube, target.ns(), name, follow=follow)
        return
    click.echo(f"note: {why}; reading the pod log", err=True)
    _logs.stream(kube, kube.get(AgentRun, name, target.ns()), follow=follow)
