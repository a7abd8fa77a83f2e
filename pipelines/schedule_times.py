"""When a schedule's occurrences fall: pure arithmetic on its settings, in UTC.

A cron schedule's occurrences are the cron's wall-clock times in its zone
(`pipelines.sdk.cron`); an interval schedule's are `start_time + k * interval`
(k = 0, 1, ...); a run-once schedule has one. All of them are bounded by `start_time`
(inclusive) and `end_time` (inclusive).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pipelines.sdk.cron import cron_next, parse_cron, zone

# Occurrences missed while the scheduler was down that a catch-up schedule still
# starts: the latest ones, oldest first; older ones are skipped.
CATCHUP_LIMIT = 20
# When looking back for missed cron occurrences, windows tried in turn (the last
# is the cron reader's own search horizon), so a long outage costs a bounded scan.
_LOOKBACK = (timedelta(hours=2), timedelta(days=2), timedelta(days=40), timedelta(days=400), timedelta(days=366 * 5))


class Timing(Protocol):
    cron_expression: str
    timezone: str
    interval_seconds: int | None
    start_time: datetime | None
    end_time: datetime | None
    run_once_start_time: datetime | None


@dataclass(frozen=True)
class Due:
    """The occurrences in a span: the latest `limit` of them (oldest first), and how many there were."""

    occurrences: list[datetime]
    total: int


def _within(timing: Timing, moment: datetime | None) -> datetime | None:
    if moment is None or (timing.end_time is not None and moment > timing.end_time):
        return None
    return moment


def next_after(timing: Timing, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after`, or None when there is no more
    (past datetime's range included)."""
    try:
        return _next_after(timing, after)
    except OverflowError:
        return None


def _next_after(timing: Timing, after: datetime) -> datetime | None:
    if timing.run_once_start_time is not None:
        return _within(timing, timing.run_once_start_time if timing.run_once_start_time > after else None)
    start = timing.start_time
    if timing.interval_seconds:
        assert start is not None, "an interval schedule has a start_time"
        if after < start:
            return _within(timing, start)
        step = timedelta(seconds=timing.interval_seconds)
        k = (after - start) // step + 1
        return _within(timing, start + k * step)
    if start is not None and after < start:
        after = start - timedelta(microseconds=1)
    return _within(timing, cron_next(parse_cron(timing.cron_expression), after, zone(timing.timezone)))


def upcoming(timing: Timing, after: datetime, count: int) -> list[datetime]:
    """The next `count` occurrences after `after` (fewer when the schedule ends)."""
    found: list[datetime] = []
    moment: datetime | None = after
    while moment is not None and len(found) < count:
        moment = next_after(timing, moment)
        if moment is not None:
            found.append(moment)
    return found


def _between(timing: Timing, after: datetime, until: datetime) -> list[datetime]:
    found: list[datetime] = []
    moment = next_after(timing, after)
    while moment is not None and moment <= until:
        found.append(moment)
        moment = next_after(timing, moment)
    return found


def due_between(timing: Timing, after: datetime, until: datetime, *, limit: int = CATCHUP_LIMIT) -> Due:
    """The occurrences in (after, until]: the latest `limit` of them, oldest first, and their
    total (at least `limit + 1` when there were more, without counting them all)."""
    if until <= after:
        return Due([], 0)
    if timing.interval_seconds and timing.start_time is not None:
        start, step = timing.start_time, timedelta(seconds=timing.interval_seconds)
        end = min(until, timing.end_time) if timing.end_time else until
        if end < start:
            return Due([], 0)
        first = 0 if after < start else (after - start) // step + 1
        last = (end - start) // step
        if last < first:
            return Due([], 0)
        total = last - first + 1
        return Due([start + k * step for k in range(max(first, last - limit + 1), last + 1)], total)
    if not timing.cron_expression:
        found = _between(timing, after, until)
        return Due(found, len(found))
    # Look back from `until` in widening windows: each is tried only when the last
    # held fewer than `limit` occurrences, so none holds many more than needed.
    for window in _LOOKBACK:
        floor = max(after, until - window)
        found = _between(timing, floor, until)
        if len(found) >= limit or floor == after:
            break
    # Past the window there may be more; say so without counting them.
    total = len(found) + (1 if floor > after else 0)
    return Due(found[-limit:], total)
