"""Five-field cron expressions and their occurrences in a time zone.

`minute hour day-of-month month day-of-week`, each `*`, a number, a range `a-b`, a step
`*/n` or `a-b/n`, or a comma list of those; month and weekday names (`jan`, `mon`) and
the macros `@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually`.
As in cron, when both day fields are restricted a day matches either of them.

Wall-clock times are read in the schedule's zone and returned in UTC. A time that a
daylight-saving jump skips fires at the same instant the hour before the jump would
have reached it (02:30 on the spring-forward day in Paris is 03:30 CEST); a repeated
time fires once, the first time, unless the hour field is `*` (then every hour runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EXAMPLE = "'*/5 * * * *' (every 5 minutes) or '0 9 * * mon-fri' (09:00 on weekdays)"
MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, 1)}
WEEKDAYS = {name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, WEEKDAYS),
)
# How far ahead to look for an occurrence before deciding there is none (e.g. 30 feb).
SEARCH_DAYS = 366 * 5


class CronError(ValueError):
    """A cron expression that cannot be read; the message says what to write instead."""


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool
    every_hour: bool

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.weekday() + 1) % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays


def _number(text: str, name: str, names: dict[str, int]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    if not text.isdigit():
        raise CronError(f"{text!r} is not a number in the {name} field. Example: {EXAMPLE}.")
    return int(text)


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"Empty item in the {name} field {text!r}. Example: {EXAMPLE}.")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(
                    f"Step {step_text!r} in the {name} field must be a whole number of at least 1. Example: {EXAMPLE}."
                )
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _number(first, name, names), _number(last, name, names)
        else:
            start = _number(base, name, names)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high):
            raise CronError(f"{part!r} is outside {low}-{high} in the {name} field. Example: {EXAMPLE}.")
        if start > end:
            raise CronError(
                f"Range {part!r} in the {name} field runs backwards; put the smaller first. Example: {EXAMPLE}."
            )
        values.update(range(start, end + 1, step))
    return values


def parse_cron(expression: str) -> Cron:
    """Read `expression`, or raise CronError saying what is wrong and showing an example."""
    if not isinstance(expression, str) or not expression.strip():
        raise CronError(f"A cron expression is needed, e.g. {EXAMPLE}.")
    text = MACROS.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise CronError(
            f"A cron expression has 5 fields (minute hour day-of-month month day-of-week); "
            f"{expression!r} has {len(parts)}. Example: {EXAMPLE}."
        )
    sets = [_field(part, name, low, high, names) for part, (name, low, high, names) in zip(parts, FIELDS, strict=True)]
    weekdays = {0 if day == 7 else day for day in sets[4]}
    return Cron(
        expression=expression.strip(),
        minutes=tuple(sorted(sets[0])),
        hours=tuple(sorted(sets[1])),
        days=frozenset(sets[2]),
        months=frozenset(sets[3]),
        weekdays=frozenset(weekdays),
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
        every_hour=len(sets[1]) == 24,
    )


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name` ('Europe/Paris'), or CronError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise CronError(f"Unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Paris'.") from None


def _day_candidates(cron: Cron, day: date, tz: ZoneInfo) -> set[datetime]:
    found: set[datetime] = set()
    folds = (0, 1) if cron.every_hour else (0,)
    for hour in cron.hours:
        for minute in cron.minutes:
            wall = datetime.combine(day, time(hour, minute))
            for fold in folds:
                found.add(wall.replace(tzinfo=tz, fold=fold).astimezone(UTC))
    return found


def cron_next(cron: Cron, after: datetime, tz: ZoneInfo) -> datetime | None:
    """The first occurrence strictly after `after` (aware), in UTC; None if there is none."""
    after = after.astimezone(UTC)
    day = after.astimezone(tz).date() - timedelta(days=1)
    for _ in range(SEARCH_DAYS):
        if cron.matches_day(day):
            later = [moment for moment in _day_candidates(cron, day, tz) if moment > after]
            if later:
                return min(later)
        day += timedelta(days=1)
    return None
