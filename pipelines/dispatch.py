"""Putting step runs on the broker, only once the rows that describe them are committed."""

from __future__ import annotations

from django.db import transaction


def enqueue_steps_on_commit(step_run_ids: list[int]) -> None:
    if not step_run_ids:
        return

    def publish() -> None:
        from pipelines.tasks import run_step

        for step_run_id in step_run_ids:
            run_step.delay(step_run_id)

    transaction.on_commit(publish)
