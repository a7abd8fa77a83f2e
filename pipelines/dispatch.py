"""Putting step runs on the broker, only once the rows that describe them are committed."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


def enqueue_steps_on_commit(step_run_ids: list[int], *, queue: str) -> None:
    if not step_run_ids:
        return

    def publish() -> None:
        from pipelines.models import StepRun
        from pipelines.tasks import run_step

        sent = []
        for step_run_id in step_run_ids:
            try:
                run_step.apply_async(args=[step_run_id], queue=queue)
            except Exception:
                # The rows are committed, so nothing is lost: the reaper sends every
                # queued step without a dispatch mark again.
                logger.exception("Could not send step run %s to the broker; the reaper will retry", step_run_id)
                continue
            sent.append(step_run_id)
        # Only now is the message safe with the broker.
        if sent:
            StepRun.objects.filter(id__in=sent, dispatched_at=None).update(dispatched_at=timezone.now())

    transaction.on_commit(publish)
