"""ClawSchedule: cron-driven runs (heartbeats, sweeps) of an instance."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from k8sclaw_protocol._base import (
    AGE_COLUMN,
    Conditions,
    CRModel,
    KindInfo,
    ObjectName,
    PrinterColumn,
    Resource,
)

ScheduleType = Literal["heartbeat", "scheduled", "sweep"]
ConcurrencyPolicy = Literal["Forbid", "Allow", "Replace"]
# Five cron fields (minute hour day-of-month month day-of-week) or an @-macro.
CRON_PATTERN = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$"


class ClawScheduleSpec(CRModel):
    """Desired state of a ClawSchedule."""

    instance_ref: ObjectName
    """ClawInstance the runs belong to."""
    schedule: str = Field(pattern=CRON_PATTERN)
    """Five-field cron expression, e.g. "0 * * * *"."""
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


class ClawScheduleStatus(CRModel):
    """Observed state of a ClawSchedule."""

    phase: Literal["Active", "Suspended", "Error"] | None = None
    """Active, Suspended or Error."""
    observed_generation: int | None = None
    """Generation last reconciled."""
    last_run_time: datetime | None = None
    """When the last run was created."""
    next_run_time: datetime | None = None
    """When the next run is due."""
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
            PrinterColumn("Last Run", "date", ".status.lastRunTime"),
            AGE_COLUMN,
        ),
    )

    spec: ClawScheduleSpec
    status: ClawScheduleStatus | None = None
