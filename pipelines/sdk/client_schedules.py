"""The Client's methods for schedules (list_schedules, get_schedule, update_schedule, delete_schedule).

A mixin of `pipelines.sdk.client.Client`: its methods use the Client's `_request` and
`_list`, and are documented as the Client's own. Names and keywords follow ZenML's
Client (`name_id_or_prefix`, `pipeline_id`, `active`, `cron_expression`, ...).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pipelines.sdk.schedule_response import ScheduleResponse, _aware_utc, _interval

if TYPE_CHECKING:
    from pipelines.sdk.responses import Page

# Filters of ZenML's list_schedules that have no meaning here (there is one
# orchestrator, the scheduler) or that the server does not filter on.
_IGNORED_LIST_FILTERS = ("orchestrator_id", "hydrate", "logical_operator")


class ScheduleMethods:
    _request: Any
    _list: Any

    def list_schedules(
        self,
        sort_by: str = "name",
        page: int = 1,
        size: int = 50,
        *,
        name: str | None = None,
        pipeline_id: int | None = None,
        active: bool | None = None,
        **filters: Any,
    ) -> Page[ScheduleResponse]:
        """Schedules, a page at a time: `name` (contains), `pipeline_id`, `active`
        (False: the paused ones). ZenML's `orchestrator_id`, `hydrate` and
        `logical_operator` are accepted and ignored."""
        for key in _IGNORED_LIST_FILTERS:
            filters.pop(key, None)
        if name is not None:
            filters["name"] = name
        if pipeline_id is not None:
            filters["pipeline"] = pipeline_id
        if active is not None:
            filters["active"] = "true" if active else "false"
        return self._list("schedules/", ScheduleResponse, page=page, size=size, sort_by=sort_by, filters=filters)

    def get_schedule(
        self, name_id_or_prefix: int | str, allow_name_prefix_match: bool = True, hydrate: bool = True
    ) -> ScheduleResponse:
        """A schedule by id, name, or (as ZenML's) a prefix of its name that only one
        schedule has. KeyError when none (or several) match."""
        from pipelines.sdk.exceptions import ServerError

        key = str(name_id_or_prefix).strip()
        if not key:
            raise ValueError("name_id_or_prefix: give a schedule's id or name.")
        try:
            return ScheduleResponse.from_api(self._request("GET", f"schedules/{key}/"), self)  # type: ignore[arg-type]
        except ServerError as exc:
            if exc.status_code != 404 or not allow_name_prefix_match or key.isdigit():
                if exc.status_code == 404:
                    raise KeyError(f"No schedule {name_id_or_prefix!r}.") from None
                raise
        candidates = [s for s in self.list_schedules(name=key, size=500) if s.name.startswith(key)]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise KeyError(f"No schedule has the id, name or name prefix {name_id_or_prefix!r}.")
        names = ", ".join(sorted(s.name for s in candidates))
        raise KeyError(f"Several schedules start with {name_id_or_prefix!r}: {names}; give more of the name.")

    def update_schedule(
        self,
        name_id_or_prefix: int | str,
        cron_expression: str | None = None,
        *,
        active: bool | None = None,
        interval_second: timedelta | float | None = None,
        parameters: dict[str, Any] | None = None,
        name: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        run_once_start_time: datetime | None = None,
        catchup: bool | None = None,
        timezone: str | None = None,
        enable_cache: bool | None = None,
    ) -> ScheduleResponse:
        """Change a schedule: `active=False` pauses it, `active=True` resumes it
        (occurrences due meanwhile are skipped); a new `cron_expression`,
        `interval_second` or `run_once_start_time` replaces its timing (counted from
        now); `parameters` are checked against the pipeline's. Needs to be its creator,
        or `pipelines.change_schedule`."""
        schedule = self.get_schedule(name_id_or_prefix)
        body: dict[str, Any] = {}
        if cron_expression is not None:
            body["cron_expression"] = cron_expression
        if interval_second is not None:
            interval = _interval(interval_second)
            body["interval_seconds"] = int(interval.total_seconds()) if interval else None
        for key, value in (
            ("start_time", start_time),
            ("end_time", end_time),
            ("run_once_start_time", run_once_start_time),
        ):
            if value is not None:
                moment = _aware_utc(key, value)
                body[key] = moment.isoformat() if moment else None
        for key, value in (
            ("active", active),
            ("parameters", parameters),
            ("name", name),
            ("catchup", catchup),
            ("timezone", timezone),
            ("enable_cache", enable_cache),
        ):
            if value is not None:
                body[key] = value
        if not body:
            raise ValueError(
                "update_schedule: give something to change (active=, cron_expression=, interval_second=, "
                "parameters=, name=, ...)."
            )
        data = self._request("PATCH", f"schedules/{schedule.id}/", json=body)
        return ScheduleResponse.from_api(data, self)  # type: ignore[arg-type]

    def delete_schedule(self, name_id_or_prefix: int | str) -> None:
        """Delete a schedule (the runs it started stay). Needs to be its creator, or
        `pipelines.delete_schedule`."""
        schedule = self.get_schedule(name_id_or_prefix)
        self._request("DELETE", f"schedules/{schedule.id}/")
