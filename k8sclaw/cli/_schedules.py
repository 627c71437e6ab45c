"""`k8sclaw schedules list|get|create|delete|suspend|resume|trigger`: ClawSchedules.

`create` checks the expression and the time zone with the controller's own timetable
before anything reaches the cluster, and makes the schedule owned by its instance
(deleting the instance deletes its schedules, and they their runs). `trigger` creates a
run now through the same builder as the controller (`build_scheduled_run`), named
`<schedule>-m<unix seconds>`: a retried trigger in the same second cannot make two runs.
Changes are merge patches of `spec.suspend`, never full updates that race the controller.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from k8sclaw.cli import _common, _output, _resources
from k8sclaw.cli._errors import CliError

if TYPE_CHECKING:
    from k8sclaw_protocol import ClawInstance, ClawSchedule

schedules = _resources.group("schedules", "ClawSchedule", verbs=("list", "get", "delete"))
TYPES = ("scheduled", "heartbeat", "sweep")
POLICIES = ("Forbid", "Allow", "Replace")


@schedules.command("create")
@click.argument("name")
@click.option(
    "--schedule",
    "expression",
    required=True,
    metavar="CRON",
    help=("Five-field cron ('0 * * * *'), a macro (@hourly) or an interval (@every 5m)."),
)
@click.option("--task", required=True, help="What each run should do.")
@click.option("--instance", metavar="NAME", help="ClawInstance (default: the only one).")
@click.option("--time-zone", default="UTC", show_default=True, help="IANA zone of the cron.")
@click.option("--type", "kind", type=click.Choice(TYPES), default="scheduled", show_default=True)
@click.option(
    "--concurrency-policy",
    type=click.Choice(POLICIES),
    default="Forbid",
    show_default=True,
    help="While a run is active: skip, run both, or replace it.",
)
@click.option(
    "--starting-deadline",
    type=click.IntRange(min=0),
    metavar="SECONDS",
    help="Skip a tick that cannot start within this many seconds.",
)
@click.option("--suspend", is_flag=True, help="Create it suspended.")
@click.option(
    "--deliver-to",
    metavar="CHANNEL:CHAT[:THREAD]",
    help="Heartbeats only: post each result to this chat, e.g. telegram:-1001234567890.",
)
@_common.cluster_options()
@_common.output_option("name")
@_common.translating
def create(name: str, target: _common.Target, output: str, **options: Any) -> None:
    """Create a ClawSchedule NAME running TASK on an instance."""
    from k8sclaw.cli._runs import _pick_instance
    from k8sclaw_protocol import CronError, timetable

    try:
        timetable(options["expression"], options["time_zone"])
    except CronError as exc:
        raise CliError(str(exc), hint="see `k8sclaw schedules create --help`") from exc
    options["deliver_to"] = _delivery(options.get("deliver_to"), options["kind"])
    kube = target.kube()
    inst = _pick_instance(kube, target.ns(), options["instance"])
    _output.print_one(kube.create(_new_schedule(name, target.ns(), inst, options)), output)


def _delivery(value: str | None, kind: str) -> dict[str, str] | None:
    """`spec.deliverTo` of `--deliver-to CHANNEL:CHAT[:THREAD]`, checked like the CRD does."""
    from pydantic import ValidationError

    from k8sclaw_protocol import DeliveryTarget

    if value is None:
        return None
    hint = "use --deliver-to CHANNEL:CHAT[:THREAD] with --type heartbeat"
    if kind != "heartbeat":
        raise CliError("--deliver-to is only for heartbeats", hint=hint)
    channel, _, rest = value.partition(":")
    chat, _, thread = rest.partition(":")
    wire = {"channel": channel, "chatId": chat, **({"threadId": thread} if thread else {})}
    try:
        DeliveryTarget.model_validate(wire)
    except ValidationError as exc:
        raise CliError(f"--deliver-to {value!r} is not a channel and a chat", hint=hint) from exc
    return wire


def _new_schedule(
    name: str, namespace: str, instance: ClawInstance, options: dict[str, Any]
) -> ClawSchedule:
    """The schedule object, labelled with and owned by its instance."""
    from k8sclaw_protocol import ClawSchedule, OwnerReference, names

    spec = {
        "instanceRef": instance.name,
        "schedule": options["expression"],
        "task": options["task"],
        "type": options["kind"],
        "timeZone": options["time_zone"],
        "concurrencyPolicy": options["concurrency_policy"],
        "suspend": options["suspend"],
        "startingDeadlineSeconds": options["starting_deadline"],
        "deliverTo": options.get("deliver_to"),
    }
    meta = {"name": name, "namespace": namespace, "labels": {names.LABEL_INSTANCE: instance.name}}
    schedule = ClawSchedule.from_wire({"metadata": meta, "spec": spec})
    if instance.metadata.uid:
        owner = OwnerReference(
            api_version=names.GROUP_VERSION,
            kind=instance.info.kind,
            name=instance.name,
            uid=instance.metadata.uid,
        )
        schedule.metadata.owner_references = [owner]
    return schedule


def _set_suspend(target: _common.Target, name: str, value: bool) -> None:
    from k8sclaw_protocol import ClawSchedule

    kube = target.kube()
    kube.get(ClawSchedule, name, target.ns())  # NotFound with a hint before patching
    kube.patch(ClawSchedule, name, target.ns(), {"spec": {"suspend": value}})
    click.echo(f"clawschedule/{name} {'suspended' if value else 'resumed'}")


@schedules.command("suspend")
@click.argument("name")
@_common.cluster_options()
@_common.translating
def suspend(name: str, target: _common.Target) -> None:
    """Stop NAME from creating runs (runs already started continue)."""
    _set_suspend(target, name, True)


@schedules.command("resume")
@click.argument("name")
@_common.cluster_options()
@_common.translating
def resume(name: str, target: _common.Target) -> None:
    """Resume NAME from its next tick (ticks missed while suspended do not fire)."""
    _set_suspend(target, name, False)


@schedules.command("trigger")
@click.argument("name")
@_common.cluster_options()
@_common.output_option("name")
@_common.translating
def trigger(name: str, target: _common.Target, output: str) -> None:
    """Run NAME's task now, as the schedule would (same builder, owned by the schedule)."""
    from k8sclaw.cli._runs import _pick_instance
    from k8sclaw.kube import ConflictError
    from k8sclaw_protocol import ClawSchedule, build_scheduled_run

    kube = target.kube()
    schedule = kube.get(ClawSchedule, name, target.ns())
    inst = _pick_instance(kube, target.ns(), schedule.spec.instance_ref)
    now = datetime.now(UTC).replace(microsecond=0)
    run = build_scheduled_run(schedule, inst, now, manual=True)
    try:
        created = kube.create(run)
    except ConflictError as exc:
        raise CliError(
            f"agentrun/{run.name} already exists: {name} was triggered this second",
            hint=f"see `k8sclaw runs get {run.name}`",
            exit_code=exc.exit_code,
        ) from exc
    _output.print_one(created, output)
