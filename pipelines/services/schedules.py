"""Schedules: creating, changing and firing them.

The scheduler is Celery beat with its schedule in the database (django-celery-beat),
running our scheduler class (`pipelines.beat`): every second, in the beat process
itself, its tick finds the active schedules whose `next_due_at` has come and fires
each (`schedule_fire`), with no worker slot needed. The
occurrences themselves are computed here from each schedule's own settings
(`pipelines.schedule_times`), not by beat: beat's interval entries count from the
last send and drift, and cron entries know nothing of start/end times or catch-up.

Firing is idempotent per (schedule, due time): a `ScheduleFiring` row is inserted
in the same transaction that starts the run, under a unique constraint, so a second
beat process or two ticks at once start each occurrence once.

Occurrences missed while no scheduler ran: a schedule
with `catchup` starts each of them, oldest first, at most `CATCHUP_LIMIT` (the
latest ones); without it (the default) only the latest one starts and the earlier
ones are skipped. Occurrences during a pause are skipped either way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from pipelines import access
from pipelines.models import Pipeline, PipelineRun, RunTrigger, Schedule, ScheduleFiring
from pipelines.schedule_times import CATCHUP_LIMIT, due_between, next_after, upcoming
from pipelines.sdk.cron import CronError, parse_cron, zone
from pipelines.sdk.spec import SpecError, validate_spec
from pipelines.services.pipeline_versions import pipeline_version_record
from pipelines.services.runs import pipeline_run_create
from pipelines.services.triggers import resolve_trigger_parameters, start_run

logger = logging.getLogger(__name__)

NAME_MAX_LENGTH = 200
# The editable settings, and what `schedule_update` accepts.
TIMING_FIELDS = (
    "cron_expression",
    "interval_seconds",
    "run_once_start_time",
    "start_time",
    "end_time",
    "timezone",
)
UPDATABLE_FIELDS = (*TIMING_FIELDS, "name", "catchup", "parameters", "enable_cache", "paused")


# Times a schedule may name: far enough from datetime's limits for its arithmetic.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def default_timezone() -> str:
    return settings.TIME_ZONE or "UTC"


def _check_timing(schedule: Schedule) -> None:
    """ValidationError naming the field when the schedule's timing cannot work."""
    kinds = [
        name
        for name, value in (
            ("cron_expression", schedule.cron_expression),
            ("interval_seconds", schedule.interval_seconds),
            ("run_once_start_time", schedule.run_once_start_time),
        )
        if value not in (None, "")
    ]
    if not kinds:
        raise ValidationError(
            {
                "cron_expression": "Give a cron_expression (e.g. '*/5 * * * *'), interval_seconds "
                "(e.g. 3600, with an optional start_time) or run_once_start_time."
            }
        )
    if len(kinds) > 1:
        raise ValidationError(
            {
                kinds[
                    1
                ]: f"Give one of cron_expression, interval_seconds and run_once_start_time, not {' and '.join(kinds)}."
            }
        )
    if schedule.cron_expression:
        try:
            parse_cron(schedule.cron_expression)
        except CronError as exc:
            raise ValidationError({"cron_expression": str(exc)}) from None
    if schedule.interval_seconds is not None and (
        isinstance(schedule.interval_seconds, bool)
        or not isinstance(schedule.interval_seconds, int)
        or schedule.interval_seconds < 1
    ):
        raise ValidationError({"interval_seconds": "interval_seconds must be a whole number of seconds, at least 1."})
    try:
        zone(schedule.timezone)
    except CronError as exc:
        raise ValidationError({"timezone": str(exc)}) from None
    for name in ("start_time", "end_time", "run_once_start_time"):
        moment = getattr(schedule, name)
        if moment is not None and not EARLIEST <= moment < LATEST:
            raise ValidationError({name: f"{name} must be between {EARLIEST:%Y} and {LATEST:%Y}."})
    if schedule.start_time and schedule.end_time and schedule.end_time <= schedule.start_time:
        raise ValidationError(
            {
                "end_time": f"end_time ({schedule.end_time.isoformat()}) must be after "
                f"start_time ({schedule.start_time.isoformat()})."
            }
        )


def _check_name(name: Any, *, exclude_id: int | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "name must be a non-empty string."})
    name = name.strip()
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError({"name": f"A schedule name has at most {NAME_MAX_LENGTH} characters."})
    if Schedule.objects.filter(name=name).exclude(id=exclude_id).exists():
        raise ValidationError({"name": f"A schedule named {name!r} exists; choose another name."})
    return name


def _check_parameters(schedule: Schedule, parameters: Any) -> dict[str, Any]:
    if schedule.pipeline_version is not None and schedule.spec.get("parameter_schema") is not None:
        return resolve_trigger_parameters(pipeline_version=schedule.pipeline_version, parameters=parameters)
    if parameters != schedule.spec.get("parameters", {}):
        raise ValidationError(
            {
                "parameters": "This pipeline was compiled without its parameter schema; "
                "schedule it again from its code to change them."
            }
        )
    return dict(parameters)


def _advance(schedule: Schedule, *, now: datetime) -> None:
    """Set `next_due_at`: the first occurrence not yet handled (None when none is left)."""
    after = max(now, schedule.handled_until) if schedule.handled_until else now
    floor = _floor(schedule)
    if floor is not None and floor > after:
        # Not handled yet and still to come (a start in the future, or a new schedule).
        after = floor
    schedule.next_due_at = next_after(schedule, after)


def _floor(schedule: Schedule) -> datetime | None:
    """Occurrences after this instant are candidates: what is handled, else the start."""
    if schedule.handled_until is not None:
        return schedule.handled_until
    base = schedule.created_at or timezone.now()
    if schedule.start_time is not None:
        # A catch-up schedule whose start lies in the past starts from there (as
        # Airflow's catchup); otherwise from its creation.
        base = schedule.start_time if schedule.catchup else max(schedule.start_time, base)
    return base - timedelta(microseconds=1)


def schedule_create(
    *,
    spec: Any,
    user: AbstractBaseUser | None,
    name: str | None = None,
    cron_expression: str = "",
    interval_seconds: int | None = None,
    timezone_name: str | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    run_once_start_time: datetime | None = None,
    catchup: bool = False,
    parameters: dict[str, Any] | None = None,
    enable_cache: bool | None = None,
) -> Schedule:
    """Store a schedule of the compiled `spec`; its parameters are the spec's unless given.

    Raises ValidationError naming the field (`spec`, `cron_expression`, ...).
    """
    try:
        valid = validate_spec(spec)
    except SpecError as exc:
        raise ValidationError({"spec": str(exc)}) from None
    now = timezone.now()
    with transaction.atomic():
        pipeline, _ = Pipeline.objects.get_or_create(
            name=valid["pipeline"], defaults={"created_by": user if user and user.is_authenticated else None}
        )
        schedule = Schedule(
            pipeline=pipeline,
            pipeline_version=pipeline_version_record(pipeline=pipeline, spec=valid, user=user),
            spec=valid,
            cron_expression=cron_expression or "",
            interval_seconds=interval_seconds,
            timezone=timezone_name or default_timezone(),
            # An interval counts from its start: now, when none is given.
            start_time=start_time or (now if interval_seconds else None),
            end_time=end_time,
            run_once_start_time=run_once_start_time,
            catchup=catchup,
            enable_cache=enable_cache,
            created_by=user if user and user.is_authenticated else None,
            created_at=now,
        )
        _check_timing(schedule)
        schedule.parameters = _check_parameters(
            schedule, valid.get("parameters", {}) if parameters is None else parameters
        )
        schedule.name = _check_name(name or f"{pipeline.name}-{now:%Y%m%d-%H%M%S-%f}")
        _advance(schedule, now=now)
        try:
            with transaction.atomic():
                schedule.save()
        except IntegrityError:
            raise ValidationError(
                {"name": f"A schedule named {schedule.name!r} exists; choose another name."}
            ) from None
    return schedule


def schedule_update(*, schedule: Schedule, changes: dict[str, Any], now: datetime | None = None) -> Schedule:
    """Change a schedule's settings (the keys of UPDATABLE_FIELDS). Changing the timing
    counts occurrences from now on; resuming skips what fell due during the pause."""
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise ValidationError({unknown[0]: f"Cannot change {unknown[0]!r}; changeable: {', '.join(UPDATABLE_FIELDS)}."})
    now = now or timezone.now()
    with transaction.atomic():
        # of=("self",): PostgreSQL locks no row of a joined table (nor allows it on a nullable one).
        schedule = (
            Schedule.objects.select_for_update(of=("self",)).select_related("pipeline_version").get(id=schedule.id)
        )
        timing_changed = any(key in changes for key in TIMING_FIELDS)
        kind_keys = {"cron_expression", "interval_seconds", "run_once_start_time"} & set(changes)
        if kind_keys:
            # Switching kind: the kinds not given are cleared.
            schedule.cron_expression = ""
            schedule.interval_seconds = None
            schedule.run_once_start_time = None
        for key, value in changes.items():
            if key == "cron_expression":
                schedule.cron_expression = value or ""
            elif key in TIMING_FIELDS:
                setattr(schedule, key, value)
        if schedule.interval_seconds and schedule.start_time is None:
            # An interval counts from its start: from now, when it has none (any more).
            schedule.start_time = now
        if timing_changed:
            if not schedule.timezone:
                schedule.timezone = default_timezone()
            _check_timing(schedule)
        if "name" in changes:
            schedule.name = _check_name(changes["name"], exclude_id=schedule.id)
        if "catchup" in changes:
            schedule.catchup = bool(changes["catchup"])
        if "enable_cache" in changes:
            schedule.enable_cache = changes["enable_cache"]
        if "parameters" in changes:
            schedule.parameters = _check_parameters(schedule, changes["parameters"])
        resumed = "paused" in changes and schedule.paused and not changes["paused"]
        if "paused" in changes:
            schedule.paused = bool(changes["paused"])
        if timing_changed or resumed:
            # What fell due before now (under the old timing, or while paused) is not started.
            schedule.handled_until = max(schedule.handled_until, now) if schedule.handled_until else now
        _advance(schedule, now=now)
        schedule.save()
    return schedule


def schedule_delete(*, schedule: Schedule) -> None:
    """Delete a schedule; the runs it started stay (their `schedule` is cleared)."""
    Schedule.objects.filter(id=schedule.id).delete()


@dataclass(frozen=True)
class FireResult:
    started: list[int]  # the firings that started a run (or a compile request)
    skipped: int  # missed occurrences not started (no catch-up, or past the limit)


def _start(schedule: Schedule) -> PipelineRun | Any:
    """Start one run of the schedule's spec with its parameters, as its creator."""
    if not access.may_start_runs(schedule.created_by):
        # A deactivated or deleted creator starts nothing more (the firing records why).
        raise ValidationError(
            f"Schedule {schedule.name}'s creator can no longer start runs (deactivated or deleted); "
            "make the schedule again as an active user."
        )
    if schedule.pipeline_version is not None and schedule.spec.get("parameter_schema") is not None:
        return start_run(
            pipeline_version=schedule.pipeline_version,
            parameters=schedule.parameters,
            enable_cache=schedule.enable_cache,
            user=schedule.created_by,
            trigger=RunTrigger.SCHEDULE,
            schedule=schedule,
        )
    spec = dict(schedule.spec)
    if schedule.enable_cache is not None:
        spec["enable_cache"] = schedule.enable_cache
    return pipeline_run_create(
        spec=spec, user=schedule.created_by, trigger=RunTrigger.SCHEDULE, schedule_id=schedule.id
    )


def schedule_fire(*, schedule_id: int, now: datetime | None = None) -> FireResult:
    """Start what is due of one schedule: the occurrences in (handled_until, now], all
    of them (oldest first, at most CATCHUP_LIMIT) with catch-up, else the latest.

    Each start inserts its ScheduleFiring in the same transaction as the run: when
    another scheduler fired that occurrence first, the insert fails and nothing starts.
    """
    now = now or timezone.now()
    started: list[int] = []
    with transaction.atomic():
        schedule = (
            Schedule.objects.select_for_update(of=("self",))  # created_by is a nullable (outer) join
            .select_related("pipeline_version", "created_by")
            .filter(id=schedule_id, paused=False)
            .first()
        )
        if schedule is None:
            return FireResult([], 0)
        floor = _floor(schedule)
        due = due_between(schedule, floor, now, limit=CATCHUP_LIMIT if schedule.catchup else 1)
        for due_at in due.occurrences:
            try:
                with transaction.atomic():
                    firing = ScheduleFiring.objects.create(schedule=schedule, due_at=due_at)
            except IntegrityError:
                continue  # another scheduler fired this occurrence
            try:
                with transaction.atomic():
                    started_run = _start(schedule)
            except (ValidationError, SpecError, ValueError) as exc:
                # The firing stays, so a broken schedule does not retry every second;
                # the schedule page shows why.
                firing.error = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                logger.warning("Schedule %s (%s) could not start a run: %s", schedule.id, due_at, firing.error)
            else:
                firing.run = started_run if isinstance(started_run, PipelineRun) else None
                started.append(firing.id)
            firing.save(update_fields=["run", "error"])
            schedule.last_fired_due_at = due_at
        if due.occurrences:
            schedule.handled_until = due.occurrences[-1]
        elif schedule.handled_until is None or schedule.handled_until < floor:
            schedule.handled_until = floor
        _advance(schedule, now=now)
        schedule.save(update_fields=["handled_until", "last_fired_due_at", "next_due_at", "updated_at"])
    skipped = max(due.total - len(due.occurrences), 0)
    if skipped:
        logger.info("Schedule %s: %d missed occurrence(s) skipped", schedule_id, skipped)
    return FireResult(started, skipped)


def schedules_fire_due(*, now: datetime | None = None) -> int:
    """The scheduler's tick: fire every active schedule that is due. Returns how many
    runs started."""
    now = now or timezone.now()
    due_ids = list(
        Schedule.objects.filter(paused=False, next_due_at__lte=now).order_by("next_due_at").values_list("id", flat=True)
    )
    started = 0
    for schedule_id in due_ids:
        try:
            started += len(schedule_fire(schedule_id=schedule_id, now=now).started)
        except Exception:  # one broken schedule must not stop the others
            logger.exception("Schedule %s could not be fired", schedule_id)
    return started


def schedule_next_due_times(schedule: Schedule, *, count: int = 3) -> list[datetime]:
    """The next `count` occurrences that will start (none while paused)."""
    if schedule.paused:
        return []
    first = schedule.next_due_at
    if first is None:
        return []
    return [first, *upcoming(schedule, first, count - 1)]
