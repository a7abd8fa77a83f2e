"""Pipelines, runs, steps and artifacts: the truth about every execution."""

from __future__ import annotations

import functools
import hashlib
import operator
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from pipelines.sdk.metadata import METADATA_TARGETS


class Pipeline(models.Model):
    name = models.CharField(max_length=200, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Retention, applied daily by the `prune_by_retention` task: keep the last N
    # finished runs and/or the runs of the last D days (empty: keep everything).
    retention_keep_runs = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    retention_keep_days = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    tags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    INITIALIZING = "initializing"
    RUNNING = "running"
    STOPPING = "stopping"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"


FINISHED_RUN_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.STOPPED)


class RunTrigger(models.TextChoices):
    CODE = "code", "its code"  # a `@pipeline` function called where its code is
    # Started without the code: the API, Client().trigger_pipeline, the dashboard's Run.
    API = "api", "a trigger (API, Client or dashboard)"
    RERUN = "rerun", "a re-run"  # the dashboard's Re-run of another run
    SCHEDULE = "schedule", "a schedule"


class DagKind(models.TextChoices):
    STATIC = "static"  # its steps do not depend on the parameters: the stored spec is reused
    DYNAMIC = "dynamic"  # its body shapes the DAG from them: compiled again on a worker


class PipelineVersion(models.Model):
    """One compiled shape of a pipeline (its spec without parameter values), stored
    so that runs of it can start without its code."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    spec_hash = models.CharField(max_length=64)
    spec = models.JSONField()
    parameter_schema = models.JSONField(default=list)
    dag = models.CharField(max_length=10, choices=DagKind.choices)
    # Where a worker imports the pipeline function from to compile a dynamic DAG.
    pipeline_source = models.CharField(max_length=500, blank=True)
    source_root = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pipeline", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "number"], name="pipeline_version_unique_number"),
            models.UniqueConstraint(fields=["pipeline", "spec_hash"], name="pipeline_version_unique_spec"),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline.name} v{self.number}"

    @property
    def starts_without_code(self) -> bool:
        """Old specs did not record their parameters: they can only be re-run as they are."""
        return "parameter_schema" in self.spec


class RunRequestStatus(models.TextChoices):
    PENDING = "pending"  # waiting for a worker to compile the pipeline
    COMPILING = "compiling"  # a worker claimed it
    STARTED = "started"  # the run exists (`run`)
    FAILED = "failed"  # compiling failed (`error`)


class RunRequest(models.Model):
    """A run of a dynamic-DAG pipeline asked for without its code: a worker that has
    the code compiles it with `parameters` and starts the run."""

    pipeline_version = models.ForeignKey(PipelineVersion, on_delete=models.CASCADE, related_name="requests")
    parameters = models.JSONField(default=dict)
    enable_cache = models.BooleanField(null=True)
    run_name = models.CharField(max_length=255, blank=True)
    trigger = models.CharField(max_length=20, choices=RunTrigger.choices)
    rerun_of = models.ForeignKey("PipelineRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The schedule that fired it (an id: schedules are a later migration's model).
    schedule_id = models.PositiveBigIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=20, choices=RunRequestStatus.choices, default=RunRequestStatus.PENDING)
    run = models.OneToOneField("PipelineRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="request")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"request {self.id} ({self.status})"


class PipelineRun(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="runs")
    name = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.INITIALIZING)
    # Bumped on every change a waiting client should see, so a long-poll compares
    # one integer instead of diffing the run.
    revision = models.PositiveBigIntegerField(default=0)
    spec = models.JSONField()
    parameters = models.JSONField(default=dict)
    config = models.JSONField(default=dict)
    # The broker queue its steps go to, kept so that retries and re-dispatches by
    # any process reach the workers the run was meant for.
    queue = models.CharField(max_length=100, default="pipelines")
    model_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # A list of tag strings, as ZenML's (`@pipeline(tags=[...])`, `add_tags(run=...)`).
    tags = models.JSONField(default=list, blank=True)
    # What started it (RunTrigger), the run it re-runs, and the stored version of the
    # pipeline it ran (recorded for every run, so it can be started again without code).
    trigger = models.CharField(max_length=20, choices=RunTrigger.choices, default=RunTrigger.CODE)
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")
    pipeline_version = models.ForeignKey(
        "PipelineVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    # The schedule that started it (trigger "schedule").
    schedule = models.ForeignKey("Schedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The default order of every run list (API, Client, dashboard): no sort of the whole table.
            models.Index(fields=["-created_at", "-id"], name="run_created_idx"),
            models.Index(fields=["pipeline", "-created_at"], name="run_pipeline_created_idx"),
            models.Index(fields=["status", "-created_at"], name="run_status_created_idx"),
            # /metrics counts runs by pipeline and status from this index alone.
            models.Index(fields=["pipeline", "status"], name="run_pipeline_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_RUN_STATUSES


class StepStatus(models.TextChoices):
    PENDING = "pending"  # waiting for upstream steps
    QUEUED = "queued"  # its message is (or is about to be) on the broker
    RUNNING = "running"
    RETRYING = "retrying"  # an attempt failed; the next waits for its delay
    COMPLETED = "completed"
    CACHED = "cached"  # an earlier identical step's outputs were reused
    FAILED = "failed"
    SKIPPED = "skipped"  # an upstream step failed, so it can never run
    STOPPED = "stopped"  # the run was stopped before the step ran


FINISHED_STEP_STATUSES = (
    StepStatus.COMPLETED,
    StepStatus.CACHED,
    StepStatus.FAILED,
    StepStatus.SKIPPED,
    StepStatus.STOPPED,
)
SUCCESSFUL_STEP_STATUSES = (StepStatus.COMPLETED, StepStatus.CACHED)


def default_step_queue() -> str:
    """The server's step queue (PIPELINES_QUEUE), for steps that name none."""
    return settings.PIPELINES["QUEUE"]


class StepRun(models.Model):
    # Not indexed on its own: the unique (run, name) and the (run, status) indexes lead
    # with it, and every status move writes an entry into each index of this table.
    pipeline_run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="steps", db_index=False)
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=500)
    code_hash = models.CharField(max_length=64, blank=True)
    parameters = models.JSONField(default=dict)
    # The step's slice of the spec: inputs, outputs, after, options.
    spec = models.JSONField()
    upstream = models.JSONField(default=list)
    status = models.CharField(max_length=20, choices=StepStatus.choices, default=StepStatus.PENDING)
    # The current attempt; every write an attempt makes is fenced by it.
    attempt = models.PositiveIntegerField(default=0)
    failure_count = models.PositiveIntegerField(default=0)
    crash_count = models.PositiveIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    cache_key = models.CharField(max_length=64, blank=True, db_index=True)
    cached_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The version this step works on: its own model's (`@step(model=...)`), else its
    # pipeline's; its outputs are linked to it.
    model_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="step_runs"
    )
    # The Celery queue its messages go to (`@step(queue=...)`, else the run's); only
    # workers consuming it (`celery -A config worker -Q <queue>`) run the step.
    queue = models.CharField(max_length=200, default=default_step_queue)
    worker = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set once the step's message was handed to the broker; a queued step without it
    # lost its message (a crash between commit and publish) and is sent again.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # Phases: queued (queued_at -> started_at), starting (-> user_code_started_at),
    # user code (-> user_code_finished_at), saving outputs (-> finished_at).
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    user_code_started_at = models.DateTimeField(null=True, blank=True)
    user_code_finished_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    logs = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline_run", "name"], name="step_run_unique_name_per_run"),
        ]
        indexes = [
            models.Index(fields=["status"], name="step_run_status_idx"),
            # /metrics folds and reads finished steps by when they ended (pipelines.services.metrics).
            models.Index(
                fields=["finished_at"], condition=Q(status__in=FINISHED_STEP_STATUSES), name="step_run_finished_idx"
            ),
            # A step's end asks "is an upstream step, or any step, of this run still
            # unfinished?": with the run's unfinished steps found through this index,
            # the answer costs the same at the first and the 1,000th end of a wide run.
            models.Index(fields=["pipeline_run", "status"], name="step_run_run_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline_run.name}/{self.name}"


class AttemptOutcome(models.TextChoices):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CRASHED = "crashed"  # its worker stopped heartbeating
    STOPPED = "stopped"


class StepAttempt(models.Model):
    """One try at running a step, kept for the record."""

    step_run = models.ForeignKey(StepRun, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["step_run", "number"]
        constraints = [models.UniqueConstraint(fields=["step_run", "number"], name="step_attempt_unique_number")]
        # /metrics folds and reads ended attempts by when they ended (pipelines.services.metrics).
        indexes = [models.Index(fields=["finished_at"], name="step_attempt_finished_idx")]

    def __str__(self) -> str:
        return f"{self.step_run_id}#{self.number} {self.outcome}"


class Artifact(models.Model):
    name = models.CharField(max_length=200, unique=True)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ArtifactVersionStatus(models.TextChoices):
    PENDING = "pending"  # its files are being written; invisible to readers and the cache
    READY = "ready"  # complete, fsynced, renamed into place, checksum recorded


class ArtifactVersion(models.Model):
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="versions")
    status = models.CharField(max_length=10, choices=ArtifactVersionStatus.choices, default=ArtifactVersionStatus.READY)
    # Assigned when the version becomes ready, so failed attempts use up no numbers.
    version = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL: several pending versions may coexist under the unique constraint)
    # Auto-numbered versions keep their number here too, for sorting and "latest".
    number = models.PositiveIntegerField(null=True, blank=True)
    uri = models.CharField(max_length=1000, unique=True)
    materializer = models.CharField(max_length=500, blank=True)
    data_type = models.CharField(max_length=500, blank=True)
    checksum = models.CharField(max_length=64, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    # A small version's files themselves ({relative path: ASCII text}, a few KiB at
    # most), committed with the step that made it: readers in the engine load from
    # here; the copy in the store is written without an fsync (see
    # pipelines/sdk/artifact_saving.py).
    inline_files = models.JSONField(null=True, blank=True)
    # What the process that wrote or checked the files established of its larger ones
    # ({relative path: [file digest, identity]}): a later load takes the digest of a
    # file still of that identity instead of hashing it (pipelines/sdk/stores/base.py).
    file_identities = models.JSONField(default=dict, blank=True)
    producer_step_run = models.ForeignKey(
        StepRun, null=True, on_delete=models.SET_NULL, related_name="produced_versions"
    )
    producer_attempt = models.PositiveIntegerField(default=0)
    # Who started saving a version outside a step: only they may finish it.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["artifact", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["artifact", "version"], name="artifact_version_unique"),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(version__isnull=False), name="artifact_version_ready_has_version"
            ),
            models.UniqueConstraint(
                fields=["artifact", "number"], condition=Q(number__isnull=False), name="artifact_number_unique"
            ),
        ]
        # An artifact's ready versions, newest first, counted or paged without a sort.
        indexes = [
            models.Index(fields=["artifact", "status", "id"], name="artifact_version_ready_idx"),
            # /metrics adds up the bytes of ready versions from this index alone.
            models.Index(fields=["status", "size"], name="artifact_version_size_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.artifact.name}:{self.version}"


class ModelStage(models.TextChoices):
    NONE = "none"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class MLModel(models.Model):
    """A model in the model control plane (named MLModel: Django has `Model`)."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    # ZenML's model card: `Model(license=..., audience=..., ...)`, shown on the model page.
    license = models.TextField(blank=True)
    audience = models.TextField(blank=True)
    use_cases = models.TextField(blank=True)
    limitations = models.TextField(blank=True)
    trade_offs = models.TextField(blank=True)
    ethics = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    stage = models.CharField(max_length=20, choices=ModelStage.choices, default=ModelStage.NONE)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="model_version_unique_number"),
            models.UniqueConstraint(fields=["model", "name"], name="model_version_unique_name"),
            # At most one version of a model holds each live stage.
            models.UniqueConstraint(
                fields=["model", "stage"],
                condition=Q(stage__in=["staging", "production"]),
                name="model_version_one_per_live_stage",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.name}:{self.name}"


class ArtifactKind(models.TextChoices):
    DATA = "data"
    MODEL = "model"
    DEPLOYMENT = "deployment"


class ModelVersionArtifact(models.Model):
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="artifact_links")
    artifact_version = models.ForeignKey(ArtifactVersion, on_delete=models.CASCADE, related_name="model_links")
    kind = models.CharField(max_length=20, choices=ArtifactKind.choices, default=ArtifactKind.DATA)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "artifact_version"], name="model_version_artifact_unique")
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id} <- {self.artifact_version_id} ({self.kind})"


class RunMetadata(models.Model):
    """One logged value. Every write is kept; readers show the latest per key."""

    key = models.CharField(max_length=255)
    value = models.JSONField(null=True)
    # The value's type as logged: JSON kinds, or Uri, Path, DType, StorageSize.
    type = models.CharField(max_length=20)
    artifact_version = models.ForeignKey(
        ArtifactVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="metadata"
    )
    step_run = models.ForeignKey(StepRun, null=True, blank=True, on_delete=models.CASCADE, related_name="metadata")
    pipeline_run = models.ForeignKey(
        PipelineRun, null=True, blank=True, on_delete=models.CASCADE, related_name="metadata"
    )
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="metadata"
    )
    # The step run that logged it, when a step did.
    logged_by = models.ForeignKey(StepRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                # One branch per kind: that kind set, every other one empty.
                condition=functools.reduce(
                    operator.or_,
                    (
                        Q(**{f"{other}__isnull": other != kind for other in METADATA_TARGETS})
                        for kind in METADATA_TARGETS
                    ),
                ),
                name="run_metadata_exactly_one_target",
            )
        ]
        indexes = [
            models.Index(fields=["key", "id"], name="run_metadata_key_idx"),
            # Distinct keys of one type (the metadata explorer's numeric keys): a skip
            # scan from one key to the next.
            models.Index(fields=["key", "type"], name="run_metadata_key_type_idx"),
            # The newest values of a key on one kind of target (the metadata explorer).
            # Every row has exactly one target, so together these four cost what one
            # full index would.
            models.Index(
                fields=["key", "id"], condition=Q(pipeline_run__isnull=False), name="run_metadata_run_key_idx"
            ),
            models.Index(fields=["key", "id"], condition=Q(step_run__isnull=False), name="run_metadata_step_key_idx"),
            models.Index(
                fields=["key", "id"], condition=Q(model_version__isnull=False), name="run_metadata_mv_key_idx"
            ),
            models.Index(
                fields=["key", "id"], condition=Q(artifact_version__isnull=False), name="run_metadata_av_key_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value!r}"


class StepRunOutput(models.Model):
    step_run = models.ForeignKey(StepRun, on_delete=models.CASCADE, related_name="output_links")
    name = models.CharField(max_length=200)
    artifact_version = models.ForeignKey(ArtifactVersion, on_delete=models.PROTECT, related_name="output_links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["step_run", "name"], name="step_output_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} -> {self.artifact_version_id}"


class StepRunInput(models.Model):
    step_run = models.ForeignKey(StepRun, on_delete=models.CASCADE, related_name="input_links")
    name = models.CharField(max_length=200)
    artifact_version = models.ForeignKey(ArtifactVersion, on_delete=models.PROTECT, related_name="input_links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["step_run", "name"], name="step_input_unique_name")]

    def __str__(self) -> str:
        return f"{self.artifact_version_id} -> {self.name}"


class WorkerHeartbeatQuerySet(models.QuerySet):
    def live(self, *, now: datetime | None = None) -> WorkerHeartbeatQuerySet:
        """The workers that heartbeated within PIPELINES_WORKER_TIMEOUT: what "alive"
        means everywhere (health, metrics, the dashboard, dispatch, waiting clients)."""
        return self.filter(last_seen_at__gte=WorkerHeartbeat.live_since(now))


class WorkerHeartbeat(models.Model):
    """A Celery worker that is (or was recently) alive, refreshed by a thread in it."""

    hostname = models.CharField(max_length=255, unique=True)
    queues = models.JSONField(default=list)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    # The worker's pool size (its --concurrency): how many steps it runs at once.
    concurrency = models.PositiveIntegerField(null=True, blank=True)

    objects = WorkerHeartbeatQuerySet.as_manager()

    def __str__(self) -> str:
        return self.hostname

    @staticmethod
    def live_since(now: datetime | None = None) -> datetime:
        """The oldest heartbeat that still counts as alive."""
        return (now or timezone.now()) - timedelta(seconds=settings.PIPELINES["WORKER_TIMEOUT"])


class EventCounter(models.Model):
    """A count of things that leave no row of their own (the reaper's re-sent messages,
    released retries, removed files), for /metrics. Incremented with one F() update."""

    name = models.CharField(max_length=100, unique=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class MetricsFold(models.Model):
    """How far the /metrics totals below go (`pipelines.services.metrics`): every step
    and attempt that ended before `folded_until` is counted in them. One row."""

    folded_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"folded until {self.folded_until}"


class StepRunTotal(models.Model):
    """Finished steps folded into running totals for /metrics: how many ended, by
    pipeline, queue, status and the buckets of their duration and queue wait (-1:
    none), with the seconds they add up to. Prune keeps them (counters stay monotonic)."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    queue = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=StepStatus.choices)
    duration_bucket = models.SmallIntegerField()
    wait_bucket = models.SmallIntegerField()
    count = models.BigIntegerField(default=0)
    duration_sum = models.FloatField(default=0.0)
    wait_sum = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "queue", "status", "duration_bucket", "wait_bucket"], name="step_run_total_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.pipeline_id}/{self.queue}/{self.status}: {self.count}"


class StepAttemptTotal(models.Model):
    """Ended attempts folded into running totals for /metrics, by outcome and whether
    the attempt was a retry (number > 1)."""

    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices)
    retry = models.BooleanField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["outcome", "retry"], name="step_attempt_total_unique")]

    def __str__(self) -> str:
        return f"{self.outcome} (retry: {self.retry}): {self.count}"


class ReaperAction(models.TextChoices):
    """The reaper's actions that leave no row of their own; each is counted in the
    EventCounter `reaper.<value>` (crashes are counted from attempts instead)."""

    RESENT = "resent"  # an unclaimed step's message sent again
    REDISPATCHED = "redispatched"  # a dispatched step whose message was lost
    RETRY_RELEASED = "retry_released"  # a step whose retry delay was over, queued again
    ABANDONED_REMOVED = "abandoned_removed"  # an abandoned pending version and its files
    RUN_ADVANCED = "run_advanced"  # a run moved on after a step's end was cut short

    @property
    def counter(self) -> str:
        return f"reaper.{self.value}"


class ApiToken(models.Model):
    """A personal API token. Only a SHA-256 digest is stored; the key is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    # The first characters, stored in clear to tell tokens apart in the admin.
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Set for a run-scoped token: made by a worker for one step attempt, valid only
    # while that attempt runs, allowed to write only to its own run.
    step_run = models.ForeignKey(StepRun, null=True, blank=True, on_delete=models.CASCADE, related_name="run_tokens")
    attempt = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def run_id(self) -> int | None:
        """The run a run-scoped token belongs to (None for a personal token)."""
        return self.step_run.pipeline_run_id if self.step_run_id else None

    @staticmethod
    def digest_of(key: str) -> str:
        # Keys are 256 random bits, so a fast hash is enough: there is nothing to
        # brute-force, unlike a password.
        return hashlib.sha256(key.encode()).hexdigest()


class PrunedArtifactVersion(models.Model):
    """The tombstone of an artifact version `prune` deleted.

    Written in the transaction that deletes the version's row; its files are
    deleted after that commit, then `files_deleted_at` is set. A prune that was
    interrupted finishes the tombstones still without it. Kept afterwards, so that
    a reader who loaded the row before it went learns why the files are gone.
    """

    version_id = models.PositiveBigIntegerField(unique=True)
    artifact_name = models.CharField(max_length=200)
    version = models.CharField(max_length=100, blank=True)
    uri = models.CharField(max_length=1000)
    size = models.PositiveBigIntegerField(default=0)
    pruned_at = models.DateTimeField()
    files_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(files_deleted_at__isnull=True), name="pruned_files_pending_idx")
        ]

    def __str__(self) -> str:
        return f"{self.artifact_name}:{self.version} (pruned)"


class BackupLease(models.Model):
    """A backup in progress: while one is held, prune deletes no files (rows only),
    so the store copy taken after the database dump has every file the dump names."""

    holder = models.CharField(max_length=255)
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.holder} until {self.expires_at:%Y-%m-%d %H:%M}"


class Schedule(models.Model):
    """When a pipeline runs by itself: a cron expression read in `timezone`, every
    `interval_seconds` from `start_time`, or once at `run_once_start_time`.

    `spec` (with `parameters`) is what each occurrence runs. Occurrences up to
    `handled_until` are done (fired, or skipped: missed ones without `catchup`, the
    ones during a pause); `next_due_at` is when the scheduler's tick looks again.
    """

    name = models.CharField(max_length=200, unique=True)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="schedules")
    pipeline_version = models.ForeignKey(
        "PipelineVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="schedules"
    )
    spec = models.JSONField()
    parameters = models.JSONField(default=dict, blank=True)
    enable_cache = models.BooleanField(null=True, blank=True)
    cron_expression = models.CharField(max_length=200, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    run_once_start_time = models.DateTimeField(null=True, blank=True)
    catchup = models.BooleanField(default=False)
    paused = models.BooleanField(default=False)
    handled_until = models.DateTimeField(null=True, blank=True)
    last_fired_due_at = models.DateTimeField(null=True, blank=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(cron_expression__gt="", interval_seconds__isnull=True, run_once_start_time__isnull=True)
                    | Q(cron_expression="", interval_seconds__isnull=False, run_once_start_time__isnull=True)
                    | Q(cron_expression="", interval_seconds__isnull=True, run_once_start_time__isnull=False)
                ),
                name="schedule_one_kind",
            ),
            models.CheckConstraint(
                condition=Q(interval_seconds__isnull=True) | Q(interval_seconds__gte=1),
                name="schedule_interval_positive",
            ),
            models.CheckConstraint(
                condition=Q(start_time__isnull=True)
                | Q(end_time__isnull=True)
                | Q(end_time__gt=models.F("start_time")),
                name="schedule_ends_after_start",
            ),
        ]
        indexes = [
            # The scheduler's tick: active schedules whose next occurrence has come.
            models.Index(fields=["next_due_at"], condition=Q(paused=False), name="schedule_due_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class ScheduleFiring(models.Model):
    """One occurrence of a schedule that was started. The unique (schedule, due_at)
    is what makes firing idempotent: a second scheduler, or a redelivered tick, loses
    the insert and starts nothing."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="firings")
    due_at = models.DateTimeField()
    run = models.ForeignKey(PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Why no run started (the spec no longer validates, say); empty when one did.
    error = models.TextField(blank=True)
    fired_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-due_at"]
        constraints = [models.UniqueConstraint(fields=["schedule", "due_at"], name="schedule_firing_unique_due")]

    def __str__(self) -> str:
        return f"{self.schedule.name} @ {self.due_at.isoformat()}"
