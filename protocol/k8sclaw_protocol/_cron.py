"""When a ClawSchedule fires, and what its runs are called.

One definition for every entry point: the controller fires ticks with it, the CLI and the
API server validate a schedule with it before creating one, and `trigger` names a manual
run with it. Cron arithmetic (including daylight-saving transitions in a named zone) is
croniter's, not ours: a time that does not exist in the zone (spring forward) fires once at
the first existing minute after it, a time that exists twice (fall back) fires twice,
once per UTC instant. An expression that can never match (`0 0 31 2 *`) has no next
tick ("never"), rather than an error that a caller might read as "now" (reference §15:
a zero next time fired a run on every reconcile).

`@every <duration>` ticks at whole multiples of the interval since the Unix epoch, so the
ticks are the same for every controller process and every restart, with no anchor to store.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_EVERY = re.compile(r"^@every\s+((?:[0-9]+(?:s|m|h))+)$")
_EVERY_PART = re.compile(r"([0-9]+)(s|m|h)")
_UNIT = {"s": 1, "m": 60, "h": 3600}
MIN_EVERY_SECONDS = 1
MAX_EVERY_SECONDS = 366 * 24 * 3600
MAX_NAME = 63
_MAX_FORWARD = 4
_HASH = 8
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class CronError(ValueError):
    """The expression or the time zone is unusable; the message says how to fix it."""


@dataclass(frozen=True)
class Timetable:
    """The ticks of one schedule expression in one time zone."""

    expression: str
    zone: ZoneInfo
    every: int | None = None
    """Seconds between ticks for `@every`, else None (a cron expression or macro)."""

    def next_after(self, moment: datetime) -> datetime | None:
        """The first tick strictly after `moment` (UTC), or None if there never is one."""
        if self.every is not None:
            epoch = int(moment.timestamp())
            return _utc_seconds((epoch // self.every + 1) * self.every)
        return _step(self.expression, moment.astimezone(self.zone), forward=True)

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        """The last tick at or before `moment` (UTC), or None if there is none."""
        if self.every is not None:
            epoch = int(moment.timestamp())
            return _utc_seconds(epoch // self.every * self.every)
        start = moment.astimezone(self.zone) + timedelta(microseconds=1)
        latest = _step(self.expression, start, forward=False)
        # croniter's backward step skips the second instance of a repeated local time
        # (fall back) that its forward step yields; step forward so both directions agree.
        for _ in range(_MAX_FORWARD):
            following = self.next_after(latest) if latest is not None else None
            if following is None or following > moment:
                break
            latest = following
        return latest


def _step(expression: str, start: datetime, *, forward: bool) -> datetime | None:
    """croniter's next (or previous) tick from `start`; None when none exists."""
    cron = _croniter()
    try:
        it = cron.croniter(expression, start)
        tick: datetime = it.get_next(datetime) if forward else it.get_prev(datetime)
    except cron.CroniterBadDateError:
        return None
    return tick.astimezone(UTC)


def _croniter() -> Any:
    """croniter, imported on first use: it (and dateutil) cost ~0.1 s, which every CLI
    command would pay otherwise."""
    import croniter

    return croniter


def timetable(expression: str, time_zone: str | None = None) -> Timetable:
    """The timetable of a schedule, or CronError naming what is wrong."""
    zone = _zone(time_zone or "UTC")
    text = " ".join(expression.split())
    if match := _EVERY.match(text):
        return Timetable(text, zone, _every_seconds(match.group(1)))
    if text.startswith("@"):
        if text not in MACROS:
            known = ", ".join((*MACROS, "@every <duration>"))
            raise CronError(f"schedule {expression!r}: unknown macro; use one of {known}")
        return Timetable(text, zone)
    if len(text.split(" ")) != 5 or not _croniter().croniter.is_valid(text):
        raise CronError(
            f"schedule {expression!r}: not a five-field cron expression "
            "(minute hour day-of-month month day-of-week), e.g. '0 * * * *' or '@every 5m'"
        )
    return Timetable(text, zone)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(
            f"timeZone {name!r}: not an IANA time zone, e.g. 'UTC' or 'Europe/Berlin'"
        ) from exc


def _every_seconds(text: str) -> int:
    seconds = sum(int(n) * _UNIT[u] for n, u in _EVERY_PART.findall(text))
    if not MIN_EVERY_SECONDS <= seconds <= MAX_EVERY_SECONDS:
        raise CronError(f"@every {text}: the interval must be between 1s and 366 days")
    return seconds


def _utc_seconds(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def run_name(schedule: str, tick: datetime, *, manual: bool = False) -> str:
    """The one name of the run for `tick`: `<schedule>-<unix seconds>` (`-m<seconds>` for
    a manual trigger), a DNS-1123 label of at most 63 characters.

    Deterministic, so a controller that restarts between creating a run and recording it
    meets AlreadyExists instead of creating a second run. A schedule name too long for
    the room, or not itself a label (dots), is cut and given a hash of the full name, so
    two schedules never share run names.
    """
    suffix = f"-{'m' if manual else ''}{int(tick.timestamp())}"
    return _label_prefix(schedule, MAX_NAME - len(suffix)) + suffix


def _label_prefix(name: str, room: int) -> str:
    if len(name) <= room and _LABEL.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH]
    cut = re.sub(r"[^a-z0-9-]", "-", name.lower())[: room - _HASH - 1].strip("-")
    return f"{cut}-{digest}" if cut else digest


def schedule_label(schedule: str) -> str:
    """The `k8sclaw.io/schedule` label value on a schedule's runs: its name, or for a name
    longer than a label value holds (63), a cut of it with a hash of the whole name."""
    return schedule if len(schedule) <= MAX_NAME else _label_prefix(schedule, MAX_NAME)
