"""ClawSchedule: cron-driven runs (heartbeats, sweeps) of an instance."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from k8sclaw_protocol._base import (
    AGE_COLUMN,
    Conditions,
    CRModel,
    KindInfo,
    ObjectName,
    PrinterColumn,
    Resource,
)
from k8sclaw_protocol._instance import ChannelType

ScheduleType = Literal["heartbeat", "scheduled", "sweep"]
ConcurrencyPolicy = Literal["Forbid", "Allow", "Replace"]
# Five cron fields (minute hour day-of-month month day-of-week), an @-macro, or
# `@every <duration>`; the controller and the CLI check the rest (`k8sclaw_protocol.timetable`).
CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    r"|@every\s+([0-9]+(s|m|h))+|(\S+\s+){4}\S+)$"
)
TIME_ZONE_PATTERN = r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$"
PLATFORM_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
"""A platform chat or thread id: any printable text (no control characters)."""
MAX_PLATFORM_ID = 256
DELIVER_TO_RULE = "!has(self.deliverTo) || (has(self.type) && self.type == 'heartbeat')"
"""CEL on the spec: only heartbeats post their result to a chat (the controller checks
it too, for API servers that do not evaluate CEL)."""


class DeliveryTarget(CRModel):
    """Where a heartbeat posts its result: a chat (and thread) on one of the instance's
    channels, answered the way a chat message's run is (once, by the router)."""

    channel: ChannelType
    """Channel type of the instance that carries the message."""
    chat_id: str = Field(min_length=1, max_length=MAX_PLATFORM_ID, pattern=PLATFORM_ID_PATTERN)
    """Platform chat id (Telegram chat id, Slack channel id, Discord channel id, WhatsApp
    phone number)."""
    thread_id: str | None = Field(
        default=None, min_length=1, max_length=MAX_PLATFORM_ID, pattern=PLATFORM_ID_PATTERN
    )
    """Thread within the chat (Slack thread_ts, Telegram topic, Discord thread)."""


class ClawScheduleSpec(CRModel):
    """Desired state of a ClawSchedule."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": DELIVER_TO_RULE, "message": "deliverTo is only for type heartbeat"}
            ]
        }
    )

    instance_ref: ObjectName
    """ClawInstance the runs belong to."""
    schedule: str = Field(pattern=CRON_PATTERN, max_length=256)
    """Five-field cron expression ("0 * * * *"), a macro (@hourly) or "@every 5m"."""
    time_zone: str = Field(default="UTC", pattern=TIME_ZONE_PATTERN, max_length=64)
    """IANA time zone the cron expression is read in, e.g. "Europe/Berlin"."""
    task: str = Field(min_length=1)
    """Task given to each run."""
    type: ScheduleType = "scheduled"
    """heartbeat, scheduled or sweep."""
    suspend: bool = False
    """Stop creating runs."""
    concurrency_policy: ConcurrencyPolicy = "Forbid"
    """Forbid skips a tick while a run is active; Replace deletes it; Allow runs both."""
    include_memory: bool = True
    """Prefix the task with the instance's memory."""
    starting_deadline_seconds: int | None = Field(default=None, ge=0)
    """A tick that cannot start within this many seconds (controller down) is skipped."""
    successful_runs_history_limit: int = Field(default=3, ge=0, le=1000)
    """Succeeded runs of this schedule kept; older ones are deleted."""
    failed_runs_history_limit: int = Field(default=1, ge=0, le=1000)
    """Failed runs of this schedule kept; older ones are deleted."""
    deliver_to: DeliveryTarget | None = None
    """Heartbeats only: the chat each run's result (or short error) is posted to, once."""

    @property
    def delivery(self) -> DeliveryTarget | None:
        """The delivery target that applies: `deliverTo` of a heartbeat, else None."""
        return self.deliver_to if self.type == "heartbeat" else None


class ClawScheduleStatus(CRModel):
    """Observed state of a ClawSchedule."""

    phase: Literal["Active", "Suspended", "Error"] | None = None
    """Active, Suspended or Error."""
    observed_generation: int | None = None
    """Generation last reconciled."""
    last_run_time: datetime | None = None
    """When the last run was created."""
    last_schedule_time: datetime | None = None
    """The tick the last run was created for."""
    last_tick_time: datetime | None = None
    """The latest tick handled (run, skipped or missed); earlier ticks never fire."""
    next_schedule_time: datetime | None = None
    """When the next run is due (absent: suspended, or the expression never matches)."""
    last_run_name: str | None = None
    """Name of the last run."""
    total_runs: int = Field(default=0, ge=0)
    """Runs created so far."""
    conditions: Conditions = Field(default_factory=list)
    """Ready condition."""


class ClawSchedule(Resource):
    """Runs a task on an instance on a cron schedule."""

    info = KindInfo(
        kind="ClawSchedule",
        plural="clawschedules",
        singular="clawschedule",
        short_names=("cs",),
        columns=(
            PrinterColumn("Instance", "string", ".spec.instanceRef"),
            PrinterColumn("Schedule", "string", ".spec.schedule"),
            PrinterColumn("Type", "string", ".spec.type"),
            PrinterColumn("Phase", "string", ".status.phase"),
            PrinterColumn("Suspend", "boolean", ".spec.suspend"),
            PrinterColumn("Last Run", "date", ".status.lastRunTime"),
            PrinterColumn("Next", "string", ".status.nextScheduleTime", priority=1),
            AGE_COLUMN,
        ),
    )

    spec: ClawScheduleSpec
    status: ClawScheduleStatus | None = None
