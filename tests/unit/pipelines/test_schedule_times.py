"""When schedules fall due: cron in a zone (across DST), intervals from their start,
bounds, and the occurrences a catch-up finds after an outage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.schedule_times import due_between, next_after, upcoming
from pipelines.sdk.cron import CronError, parse_cron


@dataclass
class Timing:
    cron_expression: str = ""
    timezone: str = "UTC"
    interval_seconds: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    run_once_start_time: datetime | None = None


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_cron_in_paris_fires_at_the_same_wall_time_across_the_spring_dst_change():
    timing = Timing(cron_expression="0 9 * * *", timezone="Europe/Paris")
    times = upcoming(timing, utc(2026, 3, 27), 4)
    # 09:00 CET is 08:00 UTC until the clocks go forward on Sunday 29 March, then 07:00 UTC.
    assert times == [utc(2026, 3, 27, 8), utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)]


def test_a_cron_in_paris_across_the_autumn_change_keeps_the_wall_time():
    timing = Timing(cron_expression="30 2 * * *", timezone="Europe/Paris")
    times = upcoming(timing, utc(2026, 10, 24), 3)
    # 02:30 happens twice on 25 October: it fires once, the first time (CEST, +02:00).
    assert times == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_a_wall_time_the_spring_change_skips_fires_an_hour_later_on_the_clock():
    timing = Timing(cron_expression="30 2 * * *", timezone="Europe/Paris")
    # 02:30 does not exist on 29 March 2026 in Paris: it fires at 03:30 CEST = 01:30 UTC.
    assert upcoming(timing, utc(2026, 3, 28, 12), 2) == [utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]


def test_an_every_half_hour_cron_runs_through_the_repeated_hour():
    timing = Timing(cron_expression="*/30 * * * *", timezone="Europe/Paris")
    times = upcoming(timing, utc(2026, 10, 25, 0, 0), 4)
    assert times == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1), utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 2)]


def test_cron_day_fields_match_either_when_both_are_restricted_and_names_work():
    cron = parse_cron("0 0 13 * fri")
    timing = Timing(cron_expression=cron.expression)
    first = next_after(timing, utc(2026, 11, 30))
    assert first == utc(2026, 12, 4)  # a Friday, before the 13th
    weekdays = Timing(cron_expression="0 9 * * mon-fri")
    assert next_after(weekdays, utc(2026, 12, 5, 10)) == utc(2026, 12, 7, 9)  # Saturday -> Monday


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("* * * *", "5 fields"),
        ("60 * * * *", "outside 0-59 in the minute field"),
        ("*/0 * * * *", "at least 1"),
        ("5-1 * * * *", "backwards"),
        ("a * * * *", "not a number in the minute field"),
        ("", "cron expression is needed"),
    ],
)
def test_a_bad_cron_says_what_is_wrong_and_shows_an_example(expression, says):
    with pytest.raises(CronError, match=says) as caught:
        parse_cron(expression)
    assert "*/5 * * * *" in str(caught.value)


def test_an_interval_counts_from_its_start_and_stops_at_its_end():
    timing = Timing(interval_seconds=60, start_time=utc(2026, 1, 1, 12), end_time=utc(2026, 1, 1, 12, 2))
    assert next_after(timing, utc(2026, 1, 1)) == utc(2026, 1, 1, 12)
    assert next_after(timing, utc(2026, 1, 1, 12, 0, 30)) == utc(2026, 1, 1, 12, 1)
    assert next_after(timing, utc(2026, 1, 1, 12, 2)) is None


def test_a_run_once_schedule_has_one_occurrence():
    timing = Timing(run_once_start_time=utc(2026, 6, 1, 8))
    assert upcoming(timing, utc(2026, 1, 1), 3) == [utc(2026, 6, 1, 8)]
    assert next_after(timing, utc(2026, 6, 1, 8)) is None


def test_an_outage_finds_the_latest_missed_occurrences_oldest_first_and_counts_the_rest():
    timing = Timing(interval_seconds=10, start_time=utc(2026, 1, 1))
    due = due_between(timing, utc(2026, 1, 1, 0, 0, 5), utc(2026, 1, 1, 0, 10), limit=3)
    assert due.occurrences == [utc(2026, 1, 1, 0, 9, 40), utc(2026, 1, 1, 0, 9, 50), utc(2026, 1, 1, 0, 10)]
    assert due.total == 60
    cron = Timing(cron_expression="* * * * *")
    due = due_between(cron, utc(2026, 1, 1), utc(2026, 1, 3), limit=2)
    assert due.occurrences == [utc(2026, 1, 2, 23, 59), utc(2026, 1, 3)]
    assert due.total > 2
    assert due_between(cron, utc(2026, 1, 1), utc(2026, 1, 1, 0, 2, 30), limit=5).occurrences == [
        utc(2026, 1, 1, 0, 1),
        utc(2026, 1, 1, 0, 2),
    ]
    assert due_between(cron, utc(2026, 1, 1), utc(2026, 1, 1) - timedelta(seconds=1)).occurrences == []


def test_occurrences_past_datetimes_range_are_none_not_an_error():
    timing = Timing(interval_seconds=10 * 365 * 86400, start_time=datetime(9990, 1, 1, tzinfo=UTC))
    assert next_after(timing, datetime(9999, 12, 31, tzinfo=UTC)) is None
    assert next_after(Timing(cron_expression="0 0 30 2 *"), datetime(9990, 1, 1, tzinfo=UTC)) is None
