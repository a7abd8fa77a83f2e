from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

from django.conf import settings
from rest_framework import serializers

from pipelines.models import (
    Artifact,
    ArtifactVersion,
    MLModel,
    ModelStage,
    ModelVersion,
    Pipeline,
    PipelineRun,
    StepAttempt,
    StepRun,
)
from pipelines.sdk.naming import artifact_version_problem, name_problem, source_problem, version_problem
from pipelines.selectors import latest_metadata

_ZONE = zoneinfo.ZoneInfo(settings.TIME_ZONE)


def iso_datetime(value: datetime | None) -> str | None:
    """What DRF's DateTimeField gives (ISO 8601 in TIME_ZONE, `Z` for UTC), at a tenth of its cost."""
    if value is None:
        return None
    text = value.astimezone(_ZONE).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class PipelineSerializer(serializers.ModelSerializer):
    class Meta:
        model = Pipeline
        fields = ["id", "name", "created_at", "retention_keep_runs", "retention_keep_days", "tags"]


class PipelineRetentionSerializer(serializers.Serializer):
    """PATCH a pipeline: its retention settings (only those given; null keeps everything)."""

    retention_keep_runs = serializers.IntegerField(
        min_value=1, max_value=10**9, allow_null=True, required=False, help_text="Keep the newest N runs."
    )
    retention_keep_days = serializers.IntegerField(
        min_value=1, max_value=100_000, allow_null=True, required=False, help_text="Keep the runs of the last D days."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError(
                {name: ["Only retention_keep_runs and retention_keep_days can be changed."] for name in unknown}
            )
        return attrs


class PipelineRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Pipeline
        fields = ["id", "name"]


class ArtifactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Artifact
        fields = ["id", "name", "tags", "created_at"]


VERSION_FIELDS = (
    "id",
    "artifact",
    "version",
    "uri",
    "materializer",
    "data_type",
    "checksum",
    "size",
    "producer_step_run",
    "tags",
    "run_metadata",
    "created_at",
    # What the writer established of the files; the Client's load hashes only a file
    # no longer of that identity (pipelines/sdk/stores/base.py).
    "file_identities",
)


def version_representation(version: ArtifactVersion) -> dict[str, Any]:
    # Built by hand: a run's detail holds one per input and output of every step, and
    # instantiating a serializer for each costs more than the rest of the response.
    return {
        "id": version.id,
        "artifact": version.artifact.name,
        "version": version.version,
        "uri": version.uri,
        "materializer": version.materializer,
        "data_type": version.data_type,
        "checksum": version.checksum,
        "size": version.size,
        "producer_step_run": version.producer_step_run_id,
        "tags": version.tags,
        "run_metadata": latest_metadata(version.metadata.all()),
        "created_at": iso_datetime(version.created_at),
        "file_identities": version.file_identities,
    }


class MetadataEntrySerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.JSONField(allow_null=True)
    type = serializers.CharField()


class ArtifactVersionSerializer(serializers.ModelSerializer):
    artifact = serializers.CharField(source="artifact.name")
    run_metadata = MetadataEntrySerializer(many=True, read_only=True)

    class Meta:
        model = ArtifactVersion
        fields = list(VERSION_FIELDS)

    def to_representation(self, instance: ArtifactVersion) -> dict[str, Any]:
        return version_representation(instance)


def _links(links: Any) -> dict[str, Any]:
    return {link.name: version_representation(link.artifact_version) for link in links.all()}


class StepAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = StepAttempt
        fields = ["number", "worker", "outcome", "started_at", "finished_at", "error"]


class StepRunSerializer(serializers.ModelSerializer):
    pipeline_run = serializers.IntegerField(source="pipeline_run_id")
    inputs = serializers.SerializerMethodField()
    outputs = serializers.SerializerMethodField()
    run_metadata = serializers.SerializerMethodField()

    class Meta:
        model = StepRun
        fields = [
            "id",
            "pipeline_run",
            "name",
            "status",
            "attempt",
            "failure_count",
            "crash_count",
            "retry_at",
            "cached_from",
            "source",
            "code_hash",
            "parameters",
            "upstream",
            "cache_key",
            "queue",
            "worker",
            "queued_at",
            "started_at",
            "user_code_started_at",
            "user_code_finished_at",
            "finished_at",
            "error",
            "inputs",
            "outputs",
            "run_metadata",
        ]

    def get_inputs(self, obj: StepRun) -> dict[str, Any]:
        return _links(obj.input_links)

    def get_outputs(self, obj: StepRun) -> dict[str, Any]:
        return _links(obj.output_links)

    def get_run_metadata(self, obj: StepRun) -> list[dict[str, Any]]:
        return latest_metadata(obj.metadata.all())


class StepRunDetailSerializer(StepRunSerializer):
    attempts = StepAttemptSerializer(many=True)

    class Meta(StepRunSerializer.Meta):
        fields = [*StepRunSerializer.Meta.fields, "attempts", "logs"]


class StepLogsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    logs = serializers.CharField()


def run_representation(run: PipelineRun) -> dict[str, Any]:
    # Built by hand, like version_representation: a page of runs is the dashboard's
    # and the Client's most frequent list, and DRF's field-by-field walk cost more
    # than the database for it. The fields match PipelineRunSerializer's (a test pins it).
    return {
        "id": run.id,
        "name": run.name,
        "pipeline": {"id": run.pipeline.id, "name": run.pipeline.name},
        "status": run.status,
        "revision": run.revision,
        "parameters": run.parameters,
        "config": run.config,
        "tags": run.tags,
        "triggered_by": run.triggered_by.username if run.triggered_by_id else None,
        # What started it (code, api, rerun, schedule) and the run a re-run repeats.
        "trigger": run.trigger,
        "rerun_of": run.rerun_of_id,
        "schedule": run.schedule_id,  # the schedule that started it, if one did
        "pipeline_version": run.pipeline_version_id,  # the recorded version it ran (its id)
        "created_at": iso_datetime(run.created_at),
        "started_at": iso_datetime(run.started_at),
        "finished_at": iso_datetime(run.finished_at),
    }


class PipelineRunSerializer(serializers.ModelSerializer):
    pipeline = PipelineRefSerializer()
    triggered_by = serializers.CharField(source="triggered_by.username", default=None)

    def to_representation(self, instance: PipelineRun) -> dict[str, Any]:
        if type(self) is PipelineRunSerializer:
            return run_representation(instance)
        return super().to_representation(instance)

    class Meta:
        model = PipelineRun
        fields = [
            "id",
            "name",
            "pipeline",
            "status",
            "revision",
            "parameters",
            "config",
            "tags",
            "triggered_by",
            "trigger",
            "rerun_of",
            "schedule",
            "pipeline_version",
            "created_at",
            "started_at",
            "finished_at",
        ]


class PipelineRunDetailSerializer(PipelineRunSerializer):
    steps = StepRunSerializer(many=True)
    run_metadata = serializers.SerializerMethodField()

    class Meta(PipelineRunSerializer.Meta):
        fields = [*PipelineRunSerializer.Meta.fields, "run_metadata", "steps"]

    def get_run_metadata(self, obj: PipelineRun) -> list[dict[str, Any]]:
        return latest_metadata(obj.metadata.all())


class MetadataCreateSerializer(serializers.Serializer):
    """Metadata for exactly one of an artifact version, a step run or a run."""

    artifact_version = serializers.IntegerField(required=False)
    step_run = serializers.IntegerField(required=False)
    pipeline_run = serializers.IntegerField(required=False)
    model_version = serializers.IntegerField(required=False)
    entries = serializers.ListField(child=serializers.DictField(), allow_empty=False, max_length=1000)


class RunSpecSerializer(serializers.Serializer):
    """The compiled pipeline; `pipelines.sdk.spec.validate_spec` checks its content."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError("The run spec must be a JSON object.")
        return data


class WaitQuerySerializer(serializers.Serializer):
    revision = serializers.IntegerField(min_value=0, default=0)
    timeout = serializers.FloatField(min_value=0, max_value=60, default=20)


class RunProgressSerializer(serializers.Serializer):
    """What a waiting client needs: small, so answering often is cheap."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    revision = serializers.IntegerField()
    steps = serializers.DictField(child=serializers.CharField())
    workers_alive = serializers.IntegerField()
    queues_without_workers = serializers.ListField(
        child=serializers.CharField(), help_text="Queues of queued steps that no live worker consumes."
    )
    run = PipelineRunDetailSerializer(required=False, help_text="The whole run, in the answer that sees it finished.")


class ModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = MLModel
        fields = [
            "id",
            "name",
            "description",
            "tags",
            "license",
            "audience",
            "use_cases",
            "limitations",
            "trade_offs",
            "ethics",
            "created_at",
        ]


class ModelVersionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    run_metadata = serializers.SerializerMethodField()
    artifacts = serializers.SerializerMethodField()
    runs = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model",
            "number",
            "name",
            "stage",
            "description",
            "tags",
            "created_at",
            "run_metadata",
            "artifacts",
            "runs",
        ]

    def get_run_metadata(self, obj: ModelVersion) -> list[dict[str, Any]]:
        return latest_metadata(obj.metadata.all())

    def get_artifacts(self, obj: ModelVersion) -> list[dict[str, Any]]:
        return [
            {"kind": link.kind, "artifact_version": version_representation(link.artifact_version)}
            for link in obj.artifact_links.all()
        ]

    def get_runs(self, obj: ModelVersion) -> list[dict[str, Any]]:
        return [{"id": run.id, "name": run.name, "status": run.status} for run in obj.runs.all()]


class StageSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=ModelStage.choices)
    force = serializers.BooleanField(default=False)


class ModelWriteSerializer(serializers.Serializer):
    """Create (name required) or change (only the fields given) a model."""

    name = serializers.CharField(
        trim_whitespace=False, required=False, help_text="1-200 letters, digits, '_', '-' or '.'."
    )
    description = serializers.CharField(allow_blank=True, required=False, max_length=10000)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50)
    # The model card (ZenML's Model(license=..., ...)).
    license = serializers.CharField(allow_blank=True, required=False, max_length=10000)
    audience = serializers.CharField(allow_blank=True, required=False, max_length=10000)
    use_cases = serializers.CharField(allow_blank=True, required=False, max_length=10000)
    limitations = serializers.CharField(allow_blank=True, required=False, max_length=10000)
    trade_offs = serializers.CharField(allow_blank=True, required=False, max_length=10000)
    ethics = serializers.CharField(allow_blank=True, required=False, max_length=10000)

    def validate_name(self, value: str) -> str:
        if problem := name_problem(value, what="A model name"):
            raise serializers.ValidationError(problem)
        return value


class ModelVersionWriteSerializer(serializers.Serializer):
    """Create a version of `model` (name or id), or change a version (only the fields given)."""

    model = serializers.CharField(required=False, help_text="The model's name or id (creating only).")
    name = serializers.CharField(
        trim_whitespace=False, required=False, allow_null=True, help_text="A name (not a number, not a stage)."
    )
    description = serializers.CharField(allow_blank=True, required=False, max_length=10000)
    stage = serializers.ChoiceField(choices=ModelStage.choices, required=False)
    force = serializers.BooleanField(default=False)

    def validate_name(self, value: str | None) -> str | None:
        if value is not None and (problem := version_problem(value, what="A model version")):
            raise serializers.ValidationError(problem)
        return value


class SaveArtifactSerializer(serializers.Serializer):
    # Checked by the SDK's naming rules, as ArtifactConfig and the spec are; not trimmed,
    # or "v1\n" would be saved as "v1" here and refused everywhere else.
    artifact = serializers.CharField(
        trim_whitespace=False, allow_blank=True, help_text="1-200 letters, digits, '_', '-' or '.'."
    )
    version = serializers.CharField(
        trim_whitespace=False,
        allow_blank=True,
        required=False,
        allow_null=True,
        help_text="A name (not a number): 'v1', '2024.1'.",
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=100), default=list, max_length=50)

    def validate_artifact(self, value: str) -> str:
        if problem := name_problem(value, what="Artifact name"):
            raise serializers.ValidationError(problem)
        return value

    def validate_version(self, value: str | None) -> str | None:
        if value is not None and (problem := artifact_version_problem(value)):
            raise serializers.ValidationError(problem)
        return value


class FinishArtifactSerializer(serializers.Serializer):
    materializer = serializers.CharField(
        trim_whitespace=False, help_text="'module:qualname' of the materializer class."
    )
    data_type = serializers.CharField(max_length=500, allow_blank=True)
    metadata = serializers.ListField(child=serializers.DictField(), default=list, max_length=1000)

    def validate_materializer(self, value: str) -> str:
        if problem := source_problem(value, what="materializer"):
            raise serializers.ValidationError(problem)
        return value


class PendingArtifactVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    uri = serializers.CharField()


class ArtifactLookupSerializer(serializers.Serializer):
    artifact = serializers.CharField(max_length=200)
    version = serializers.CharField(max_length=100, required=False)
