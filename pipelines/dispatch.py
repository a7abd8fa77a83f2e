"""Putting step runs on the broker, only once the rows that describe them are committed."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone


def enqueue_steps_on_commit(step_run_ids: list[int], *, queue: str) -> None:
    if not step_run_ids:
        return

    def publish() -> None:
        from pipelines.models import StepRun
        from pipelines.tasks import run_step

        for step_run_id in step_run_ids:
            run_step.apply_async(args=[step_run_id], queue=queue)
        # Only now is the message safe with the broker; a queued step without this
        # mark is one the reaper sends again.
        StepRun.objects.filter(id__in=step_run_ids, dispatched_at=None).update(dispatched_at=timezone.now())

    transaction.on_commit(publish)
