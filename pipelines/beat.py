"""The scheduler process: Celery beat with its schedule in the database
(django-celery-beat), which also fires our schedules (`pipelines.Schedule`) itself.

Settings name `PipelinesScheduler` as `CELERY_BEAT_SCHEDULER`, so `celery -A config
beat` runs it. Each `tick()` first fires the schedules that are due
(`schedules_fire_due`), at most once a second, then lets django-celery-beat send its
own periodic entries (the daily retention prune). Firing here rather than in a task
on the workers' queue means a due schedule starts on time even while every worker
slot runs a long step: the run is created and its first steps are queued, to start
when a slot frees.

Firing is idempotent per (schedule, due time), so a second beat process (a failover,
a restart overlap) starts nothing twice. A failed firing pass, or a failed read of
beat's own entries (the database briefly away), is logged and tried again a second
later; it never stops beat.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import DatabaseError, close_old_connections
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from pipelines.services.schedules import schedules_fire_due

logger = logging.getLogger(__name__)

FIRE_INTERVAL = 1.0
# Until this version the schedules were fired by a beat entry that sent this task to
# the workers every second; the entry's row outlives its removal from the settings.
OBSOLETE_ENTRIES = ("pipelines-schedules-tick",)


class PipelinesScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler that fires due schedules in its tick."""

    fire_interval = FIRE_INTERVAL

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Monotonic time of the next firing pass; 0 = at the first tick.
        self._next_fire_at = 0.0
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        removed, _ = PeriodicTask.objects.filter(name__in=OBSOLETE_ENTRIES).delete()
        if removed:
            logger.info("Removed the obsolete beat entries %s", ", ".join(OBSOLETE_ENTRIES))
        super().setup_schedule()
        logger.info("Pipelines scheduler: firing due schedules every %.0f s", self.fire_interval)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        if now >= self._next_fire_at:
            self._next_fire_at = now + self.fire_interval
            self.fire_due_schedules()
        try:
            interval = super().tick(*args, **kwargs)
        except DatabaseError:  # reading beat's own entries: the same, try again shortly
            logger.exception("Reading the beat schedule failed; retrying in %.0f s", self.fire_interval)
            close_old_connections()
            interval = self.fire_interval
        # Sleep no longer than until the next firing pass.
        return max(0.0, min(interval, self._next_fire_at - time.monotonic()))

    def fire_due_schedules(self) -> None:
        try:
            started = schedules_fire_due()
        except Exception:  # the database may be briefly away: the next tick retries
            logger.exception("Firing due schedules failed; retrying in %.0f s", self.fire_interval)
            # Drop a connection the error left broken, so the next pass reconnects.
            close_old_connections()
            return
        if started:
            logger.info("Started %d scheduled run(s)", started)
