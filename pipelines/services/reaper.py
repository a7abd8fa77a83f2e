"""One pass of housekeeping that keeps runs moving when processes die.

Every worker runs it periodically in a thread (no extra service needed), and
`python manage.py reap` runs it by hand. Each piece is a conditional update, so
several workers reaping at once do no harm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from pipelines.models import ArtifactVersion, ArtifactVersionStatus, ReaperAction, StepStatus
from pipelines.services.counters import event_counter_add
from pipelines.services.steps import (
    pipeline_runs_advance_stalled,
    step_runs_reap_crashed,
    step_runs_redispatch_lost,
    step_runs_release_due_retries,
    step_runs_resend_unclaimed,
)
from pipelines.storage import store_for_uri

logger = logging.getLogger(__name__)
SAVED_VERSION_GRACE = timedelta(hours=6)


@dataclass(frozen=True)
class ReapReport:
    crashed: list[int]
    retried: list[int]
    redispatched: list[int]
    resent: list[int]
    cleaned: int
    # Runs moved on after a step's end was cut short between its two transactions.
    advanced: list[int] = field(default_factory=list)


def artifact_versions_cleanup_abandoned() -> int:
    """Delete pending versions (and their files) of attempts that are over."""
    # One statement decides which attempts are alive. Reading the running steps first
    # and the pending versions second would let a step claimed in between lose the
    # files it is writing: its version would be found with no live attempt listed.
    from_steps = ArtifactVersion.objects.filter(
        status=ArtifactVersionStatus.PENDING, producer_step_run__isnull=False
    ).exclude(producer_step_run__status=StepStatus.RUNNING, producer_attempt=F("producer_step_run__attempt"))
    # A version saved from a script has no attempt to watch: it is abandoned once it
    # has stayed pending far longer than writing any file takes.
    from_scripts = ArtifactVersion.objects.filter(
        status=ArtifactVersionStatus.PENDING,
        producer_step_run__isnull=True,
        created_at__lt=timezone.now() - SAVED_VERSION_GRACE,
    )
    abandoned = from_steps | from_scripts
    cleaned = 0
    for version_id, uri in abandoned.values_list("id", "uri"):
        # Each version's own store: one begun before the store setting changed is
        # cleaned up where it was written.
        try:
            store_for_uri(uri).remove(uri)
        except ValueError:
            logger.warning("Not removing %s: it is not inside an artifact store.", uri)
        except OSError as exc:
            # The store is away for now: keep the row so the next pass tries again.
            logger.warning("Could not remove the files of abandoned version %s at %s: %s", version_id, uri, exc)
            continue
        cleaned += ArtifactVersion.objects.filter(id=version_id, status=ArtifactVersionStatus.PENDING).delete()[0]
    event_counter_add(name=ReaperAction.ABANDONED_REMOVED.counter, by=cleaned)
    return cleaned


def reap_once() -> ReapReport:
    knobs = settings.PIPELINES
    now = timezone.now()
    report = ReapReport(
        crashed=step_runs_reap_crashed(
            timeout=knobs["STEP_HEARTBEAT_TIMEOUT"], crash_budget=knobs["CRASH_BUDGET"], now=now
        ),
        retried=step_runs_release_due_retries(now=now),
        redispatched=step_runs_redispatch_lost(grace=knobs["REDISPATCH_AFTER"], now=now),
        resent=step_runs_resend_unclaimed(after=knobs["REQUEUE_AFTER"], longest=knobs["REQUEUE_MAX_INTERVAL"], now=now),
        cleaned=artifact_versions_cleanup_abandoned(),
        advanced=pipeline_runs_advance_stalled(grace=knobs["REDISPATCH_AFTER"], now=now),
    )
    event_counter_add(name=ReaperAction.RETRY_RELEASED.counter, by=len(report.retried))
    event_counter_add(name=ReaperAction.REDISPATCHED.counter, by=len(report.redispatched))
    event_counter_add(name=ReaperAction.RESENT.counter, by=len(report.resent))
    event_counter_add(name=ReaperAction.RUN_ADVANCED.counter, by=len(report.advanced))
    if report.crashed or report.redispatched or report.resent or report.cleaned or report.advanced:
        logger.warning("Reaper: %s", report)
    return report
