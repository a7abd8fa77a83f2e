"""Schedules as ZenML's: `Schedule(cron_expression=...)` or `Schedule(interval_second=...)`.

`pipeline.with_options(schedule=Schedule(...))()` registers the schedule with the
pipeline's compiled spec instead of running once; `create_schedule` is what that call
does. The server's scheduler (`celery -A config beat`) then starts the runs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pipelines.sdk.cron import CronError, parse_cron
from pipelines.sdk.schedule_response import ScheduleResponse, _aware_utc, _interval

if TYPE_CHECKING:
    from pipelines.sdk.client import Client


@dataclass(frozen=True)
class Schedule:
    """When a pipeline runs by itself, as ZenML's `Schedule`.

    Give one of `cron_expression` ("*/5 * * * *", in `timezone`, else the server's
    zone), `interval_second` (a timedelta or seconds; counted from `start_time`, else
    from when the schedule is created) or `run_once_start_time`. `start_time` and
    `end_time` bound the occurrences. `catchup=True` starts every occurrence missed
    while the scheduler was down (oldest first, bounded); `False` (the default) starts
    only the latest one. Naive datetimes are this machine's local time; all are kept
    in UTC.
    """

    name: str | None = None
    cron_expression: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    interval_second: timedelta | None = None
    catchup: bool = False
    run_once_start_time: datetime | None = None
    timezone: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("start_time", "end_time", "run_once_start_time"):
            set_(self, name, _aware_utc(name, getattr(self, name)))
        set_(self, "interval_second", _interval(self.interval_second))
        if self.cron_expression is not None:
            try:
                parse_cron(self.cron_expression)
            except CronError as error:
                raise ValueError(f"cron_expression: {error}") from None
        ways = [
            name
            for name in ("cron_expression", "interval_second", "run_once_start_time")
            if getattr(self, name) is not None
        ]
        if not ways:
            raise ValueError(
                "Either a cron expression, a start time and interval seconds or a run once start time "
                "need to be set for a valid schedule: e.g. Schedule(cron_expression='*/5 * * * *') or "
                "Schedule(start_time=datetime.now(), interval_second=1800)."
            )
        if len(ways) > 1:
            raise ValueError(f"Give one of cron_expression, interval_second and run_once_start_time, not {ways}.")
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValueError(
                f"end_time ({self.end_time.isoformat()}) must be after start_time ({self.start_time.isoformat()})."
            )
        if not isinstance(self.catchup, bool):
            raise ValueError(f"catchup must be True or False, got {self.catchup!r}.")
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            raise ValueError("name must be a non-empty string.")

    @property
    def utc_start_time(self) -> str | None:
        """`start_time` as an ISO string in UTC (as ZenML's)."""
        return self.start_time.isoformat() if self.start_time else None

    @property
    def utc_end_time(self) -> str | None:
        """`end_time` as an ISO string in UTC (as ZenML's)."""
        return self.end_time.isoformat() if self.end_time else None

    def to_api(self) -> dict[str, Any]:
        """The body fields of `POST /api/v1/schedules/` this schedule sets."""
        body: dict[str, Any] = {"catchup": self.catchup}
        if self.name:
            body["name"] = self.name
        if self.cron_expression is not None:
            body["cron_expression"] = self.cron_expression
        if self.interval_second is not None:
            body["interval_seconds"] = int(self.interval_second.total_seconds())
        if self.timezone:
            body["timezone"] = self.timezone
        for name in ("start_time", "end_time", "run_once_start_time"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value.isoformat()
        return body


def create_schedule(
    pipeline: Any, spec: dict[str, Any], schedule: Schedule, *, client: Client | None = None
) -> ScheduleResponse:
    """Register `schedule` for the compiled `spec` of `pipeline` (what calling a scheduled pipeline does).

    The spec and its parameters are stored with the schedule and are what each
    occurrence runs. Prints where to see the schedule; returns it.
    """
    if client is None:
        from pipelines.sdk.client import Client

        client = Client()
    # The spec carries its parameters and cache settings; each occurrence runs it as is.
    body = {"spec": spec, **schedule.to_api()}
    data = client._request("POST", "schedules/", json=body)
    response = ScheduleResponse.from_api(data, client)
    name = getattr(pipeline, "name", None) or spec.get("name", "pipeline")
    when = response.cron_expression or (
        f"every {int(response.interval_second.total_seconds())}s" if response.interval_second else "once"
    )
    first = response.next_due_times[0].isoformat() if response.next_due_times else "none"
    where = f": {response.url}" if response.url else ""
    print(
        f"Scheduled pipeline '{name}' as schedule '{response.name}' ({when}), next run at {first}{where}",
        file=sys.stdout,
    )
    return response
