"""Celery tasks: thin adapters from a message (ids only) to one service call.

Services publish these by name (`pipelines.dispatch`), so nothing imports this module
but the worker's autodiscovery.
"""

from __future__ import annotations

from celery import shared_task

from pipelines.dispatch import STEP_TASK
from pipelines.engine.executor import step_run_execute
from pipelines.services.retention import pipelines_prune_by_retention
from pipelines.services.triggers import run_request_compile


@shared_task(name=STEP_TASK, acks_late=True, ignore_result=True)
def run_step(step_run_id: int) -> None:
    step_run_execute(step_run_id=step_run_id)


@shared_task(name="pipelines.prune_by_retention", ignore_result=True)
def prune_by_retention() -> None:
    """Each pipeline's retention settings, applied (daily, by beat); safe to run twice."""
    pipelines_prune_by_retention()


@shared_task(name="pipelines.compile_run_request", acks_late=True, ignore_result=True)
def compile_run_request(request_id: int) -> None:
    """A run of a dynamic-DAG pipeline started without its code: compile it here."""
    run_request_compile(request_id=request_id)
