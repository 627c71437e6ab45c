"""Schedule timetables: cron, macros and @every in a named zone, and per-tick run names."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from k8sclaw_protocol import CronError, run_name, schedule_label, timetable

LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_cron_next_and_latest_in_utc() -> None:
    table = timetable("*/15 * * * *")
    assert table.next_after(utc(2026, 1, 1, 10, 0)) == utc(2026, 1, 1, 10, 15)
    assert table.latest_at_or_before(utc(2026, 1, 1, 10, 0)) == utc(2026, 1, 1, 10, 0)
    assert table.latest_at_or_before(utc(2026, 1, 1, 10, 14, 59)) == utc(2026, 1, 1, 10, 0)


def test_time_zone_moves_the_ticks() -> None:
    table = timetable("0 9 * * *", "America/New_York")
    # 09:00 EST is 14:00 UTC in January.
    assert table.next_after(utc(2026, 1, 5, 0, 0)) == utc(2026, 1, 5, 14, 0)


def test_spring_forward_fires_once_at_the_first_existing_minute() -> None:
    """02:30 does not exist in Berlin on 2026-03-29; croniter fires at 03:00 CEST (01:00Z)."""
    table = timetable("30 2 * * *", "Europe/Berlin")
    first = table.next_after(utc(2026, 3, 28, 12, 0))
    assert first == utc(2026, 3, 29, 1, 0)
    assert first is not None
    assert table.next_after(first) == utc(2026, 3, 30, 0, 30)


def test_fall_back_fires_for_each_utc_instant_of_the_repeated_time() -> None:
    """02:30 exists twice in Berlin on 2026-10-25 (CEST, then CET): two distinct ticks."""
    table = timetable("30 2 * * *", "Europe/Berlin")
    first = table.next_after(utc(2026, 10, 24, 12, 0))
    assert first == utc(2026, 10, 25, 0, 30)
    assert first is not None
    second = table.next_after(first)
    assert second == utc(2026, 10, 25, 1, 30)
    assert second is not None
    assert run_name("s", first) != run_name("s", second)
    assert table.latest_at_or_before(second) == second  # both directions agree
    assert table.latest_at_or_before(second - timedelta(seconds=1)) == first


def test_every_is_aligned_to_the_epoch() -> None:
    table = timetable("@every 5m")
    assert table.every == 300
    assert table.next_after(utc(2026, 1, 1, 10, 2, 7)) == utc(2026, 1, 1, 10, 5)
    assert table.latest_at_or_before(utc(2026, 1, 1, 10, 5)) == utc(2026, 1, 1, 10, 5)
    assert timetable("@every 1h30m").every == 5400


def test_unreachable_expression_never_fires() -> None:
    table = timetable("0 0 31 2 *")
    assert table.next_after(utc(2026, 1, 1)) is None
    assert table.latest_at_or_before(utc(2026, 1, 1)) is None


def test_macros() -> None:
    assert timetable("@hourly").next_after(utc(2026, 1, 1, 10, 5)) == utc(2026, 1, 1, 11, 0)


@pytest.mark.parametrize(
    ("expression", "zone", "words"),
    [
        ("* * * *", None, "five-field"),
        ("0 0 * * * 5", None, "five-field"),
        ("61 * * * *", None, "five-field"),
        ("@reboot", None, "unknown macro"),
        ("@every 0s", None, "between 1s"),
        ("* * * * *", "Mars/Olympus", "IANA"),
    ],
)
def test_invalid_inputs_say_what_is_wrong(expression: str, zone: str | None, words: str) -> None:
    with pytest.raises(CronError, match=words):
        timetable(expression, zone)


def test_run_names_are_deterministic_labels() -> None:
    tick = utc(2026, 1, 1, 10, 0)
    assert run_name("nightly", tick) == "nightly-1767261600"
    assert run_name("nightly", tick, manual=True) == "nightly-m1767261600"
    long_a, long_b = "a" * 200 + "x", "a" * 200 + "y"
    for name in (long_a, long_b, "dotted.name"):
        assert LABEL.match(run_name(name, tick))
        assert len(run_name(name, tick, manual=True)) <= 63
    assert run_name(long_a, tick) != run_name(long_b, tick)
    assert run_name("dotted.name", tick) != run_name("dotted-name", tick)


def test_schedule_label_fits_a_label_value() -> None:
    assert schedule_label("nightly.v2") == "nightly.v2"
    long_a, long_b = "b" * 100 + "1", "b" * 100 + "2"
    assert len(schedule_label(long_a)) <= 63
    assert schedule_label(long_a) != schedule_label(long_b)
