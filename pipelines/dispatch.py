"""Putting step runs on the broker, only once the rows that describe them are committed."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction


def enqueue_steps_on_commit(step_run_ids: list[int]) -> None:
    if not step_run_ids:
        return

    def publish() -> None:
        from pipelines.tasks import run_step

        queue = settings.PIPELINES["QUEUE"]
        for step_run_id in step_run_ids:
            run_step.apply_async(args=[step_run_id], queue=queue)

    transaction.on_commit(publish)
