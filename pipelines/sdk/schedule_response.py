"""What the server answers for a schedule (`ScheduleResponse`), and the time helpers
`Schedule` and the Client's schedule methods share. Imports no Client (the Client's
methods import this)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.sdk.client import Client


def _aware_utc(name: str, value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name} must be a datetime or an ISO 8601 string, got {value!r}.") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(value).__name__}.")
    # As ZenML's: a naive datetime is this machine's local time.
    if value.tzinfo is None:
        value = value.astimezone()
    return value.astimezone(UTC)


def _interval(value: timedelta | float | None) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise ValueError(f"interval_second must be a timedelta or a number of seconds, got {value!r}.")
    interval = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if interval.total_seconds() < 1:
        raise ValueError(f"interval_second must be at least 1 second, got {interval.total_seconds():g}.")
    return interval


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass
class ScheduleResponse:
    """A schedule as the server holds it (`Client().get_schedule(...)`)."""

    id: int
    name: str
    pipeline_id: int | None
    pipeline_name: str | None
    cron_expression: str | None
    interval_second: timedelta | None
    timezone: str
    start_time: datetime | None
    end_time: datetime | None
    run_once_start_time: datetime | None
    catchup: bool
    active: bool
    parameters: dict[str, Any]
    enable_cache: bool | None
    next_due_times: list[datetime]
    last_due_at: datetime | None
    created_at: datetime | None
    url: str | None
    _client: Client | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any], client: Client | None) -> ScheduleResponse:
        interval = data.get("interval_seconds")
        return cls(
            id=data["id"],
            name=data["name"],
            pipeline_id=data.get("pipeline"),
            pipeline_name=data.get("pipeline_name"),
            cron_expression=data.get("cron_expression") or None,
            interval_second=timedelta(seconds=interval) if interval else None,
            timezone=data.get("timezone") or "UTC",
            start_time=_parse_time(data.get("start_time")),
            end_time=_parse_time(data.get("end_time")),
            run_once_start_time=_parse_time(data.get("run_once_start_time")),
            catchup=bool(data.get("catchup")),
            active=bool(data.get("active")),
            parameters=data.get("parameters") or {},
            enable_cache=data.get("enable_cache"),
            next_due_times=[t for t in (_parse_time(v) for v in data.get("next_due_times") or []) if t],
            last_due_at=_parse_time(data.get("last_due_at")),
            created_at=_parse_time(data.get("created_at")),
            url=data.get("url"),
            _client=client,
        )

    @property
    def paused(self) -> bool:
        return not self.active

    @property
    def runs(self) -> list[Any]:
        """The runs this schedule started, newest first."""
        if self._client is None:
            raise RuntimeError("This schedule was not fetched through a Client.")
        return list(self._client.list_pipeline_runs(schedule=self.id, sort_by="desc:created"))
