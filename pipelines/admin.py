"""Admin for every model. Runs, steps and artifacts are history: read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from pipelines.models import (
    ApiToken,
    Artifact,
    ArtifactVersion,
    BackupLease,
    MLModel,
    ModelVersion,
    ModelVersionArtifact,
    Pipeline,
    PipelineRun,
    PipelineVersion,
    PrunedArtifactVersion,
    RunMetadata,
    RunRequest,
    Schedule,
    ScheduleFiring,
    StepAttempt,
    StepRun,
    StepRunInput,
    StepRunOutput,
    WorkerHeartbeat,
)
from pipelines.sdk.metadata import METADATA_TARGETS
from pipelines.services.schedules import schedule_update


class HistoryAdmin(admin.ModelAdmin):
    """Shows a record without letting anyone falsify it; deleting stays possible."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class StepRunInline(admin.TabularInline):
    model = StepRun
    fields = ["name", "status", "attempt", "started_at", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Pipeline)
class PipelineAdmin(HistoryAdmin):
    list_display = ["name", "created_at", "created_by", "retention_keep_runs", "retention_keep_days"]
    search_fields = ["name"]
    # Only the retention settings are editable (with the change_pipeline permission);
    # the daily prune_by_retention task applies them.
    fields = ["name", "created_by", "created_at", "retention_keep_runs", "retention_keep_days"]
    readonly_fields = ["name", "created_by", "created_at"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return admin.ModelAdmin.has_change_permission(self, request, obj)


@admin.register(PipelineRun)
class PipelineRunAdmin(HistoryAdmin):
    list_display = ["name", "pipeline", "status", "created_at", "finished_at", "triggered_by"]
    list_filter = ["status", "pipeline"]
    search_fields = ["name"]
    list_select_related = ["pipeline", "triggered_by"]
    inlines = [StepRunInline]


class LinkInline(admin.TabularInline):
    fields = ["name", "artifact_version"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class InputInline(LinkInline):
    model = StepRunInput


class OutputInline(LinkInline):
    model = StepRunOutput


class AttemptInline(admin.TabularInline):
    model = StepAttempt
    fields = ["number", "worker", "outcome", "started_at", "finished_at", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(StepAttempt)
class StepAttemptAdmin(HistoryAdmin):
    list_display = ["step_run", "number", "outcome", "worker", "started_at", "finished_at"]
    list_filter = ["outcome"]
    list_select_related = ["step_run"]


@admin.register(RunMetadata)
class RunMetadataAdmin(HistoryAdmin):
    list_display = ["key", "type", *METADATA_TARGETS, "created_at"]
    search_fields = ["key"]
    list_select_related = [
        "artifact_version__artifact",
        "step_run__pipeline_run",
        "pipeline_run",
        "model_version__model",
    ]


@admin.register(StepRun)
class StepRunAdmin(HistoryAdmin):
    list_display = ["name", "pipeline_run", "status", "attempt", "started_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["name", "pipeline_run__name"]
    list_select_related = ["pipeline_run"]
    inlines = [AttemptInline, InputInline, OutputInline]


@admin.register(Artifact)
class ArtifactAdmin(HistoryAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]


@admin.register(ArtifactVersion)
class ArtifactVersionAdmin(HistoryAdmin):
    list_display = ["artifact", "version", "data_type", "size", "created_at"]
    search_fields = ["artifact__name"]
    list_select_related = ["artifact"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(HistoryAdmin):
    list_display = ["hostname", "started_at", "last_seen_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made with `manage.py create_api_token` (the key is shown once);
    here they can be inspected and revoked, never read."""

    list_display = ["prefix", "user", "name", "step_run", "created_at", "last_used_at", "expires_at", "revoked_at"]
    fields = ["user", "name", "prefix", "step_run", "created_at", "last_used_at", "expires_at", "revoked_at"]
    readonly_fields = ["user", "name", "prefix", "step_run", "created_at", "last_used_at"]
    list_select_related = ["user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(MLModel)
class MLModelAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at", "created_by"]
    search_fields = ["name"]
    readonly_fields = ["created_by", "created_at"]


class ModelVersionArtifactInline(LinkInline):
    model = ModelVersionArtifact
    fields = ["artifact_version", "kind"]
    readonly_fields = fields


@admin.register(ModelVersion)
class ModelVersionAdmin(HistoryAdmin):
    """Stage changes go through the API (they may archive another version)."""

    list_display = ["model", "number", "name", "stage", "created_at"]
    list_filter = ["stage"]
    list_select_related = ["model"]
    inlines = [ModelVersionArtifactInline]


@admin.register(PrunedArtifactVersion)
class PrunedArtifactVersionAdmin(HistoryAdmin):
    """What prune deleted; an empty `files deleted at` is a file the next prune deletes."""

    list_display = ["version_id", "artifact_name", "version", "size", "pruned_at", "files_deleted_at"]
    search_fields = ["artifact_name", "uri"]


@admin.register(BackupLease)
class BackupLeaseAdmin(HistoryAdmin):
    """A backup in progress holds prune's file deletion; delete a lease a dead backup left."""

    list_display = ["holder", "started_at", "expires_at"]


@admin.register(Schedule)
class ScheduleAdmin(HistoryAdmin):
    """Pausing and resuming only (with the change_schedule permission), through
    `schedule_update`, which skips what fell due during a pause. The timing, the
    parameters and the spec change through the API or the dashboard, which validate
    them and check who may; a plain admin form would save a schedule with an
    impossible cron or a stale next due time."""

    list_display = ["name", "pipeline", "timing", "timezone", "paused", "created_by", "next_due_at"]
    list_filter = ["paused"]
    search_fields = ["name", "pipeline__name"]
    list_select_related = ["pipeline", "created_by"]
    fields = [
        "name",
        "pipeline",
        "pipeline_version",
        "paused",
        "cron_expression",
        "interval_seconds",
        "run_once_start_time",
        "timezone",
        "start_time",
        "end_time",
        "catchup",
        "parameters",
        "enable_cache",
        "next_due_at",
        "last_fired_due_at",
        "handled_until",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [name for name in fields if name != "paused"]

    @admin.display(description="timing")
    def timing(self, obj: Schedule) -> str:
        if obj.cron_expression:
            return f"cron {obj.cron_expression}"
        if obj.interval_seconds:
            return f"every {obj.interval_seconds} s"
        if obj.run_once_start_time:
            return f"once at {obj.run_once_start_time:%Y-%m-%d %H:%M:%S}"
        return "-"

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return admin.ModelAdmin.has_change_permission(self, request, obj)

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        if "paused" in form.changed_data:
            schedule_update(schedule=obj, changes={"paused": form.cleaned_data["paused"]})


@admin.register(ScheduleFiring)
class ScheduleFiringAdmin(HistoryAdmin):
    list_display = ["schedule", "due_at", "run", "error", "fired_at"]
    search_fields = ["schedule__name"]
    list_select_related = ["schedule", "run"]


@admin.register(PipelineVersion)
class PipelineVersionAdmin(HistoryAdmin):
    list_display = ["pipeline", "number", "dag", "pipeline_source", "created_by", "created_at"]
    list_filter = ["dag"]
    search_fields = ["pipeline__name", "pipeline_source"]
    list_select_related = ["pipeline", "created_by"]


@admin.register(RunRequest)
class RunRequestAdmin(HistoryAdmin):
    list_display = ["id", "pipeline_version", "status", "trigger", "requested_by", "run", "created_at", "finished_at"]
    list_filter = ["status", "trigger"]
    list_select_related = ["pipeline_version__pipeline", "requested_by", "run"]
