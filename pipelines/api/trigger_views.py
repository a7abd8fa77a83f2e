"""Starting a run of a stored pipeline without its code, on the pipelines endpoint:

- `POST /api/v1/pipelines/{id}/runs/` `{"parameters": {...}, "enable_cache": bool,
  "run_name": str, "version": number}` → 201 with the run (static DAG), or 202 with
  the run request a worker compiles (dynamic DAG; `url` is where to look for its run);
- `GET /api/v1/pipelines/{id}/versions/` → the stored versions, newest first, each
  with its parameter schema and DAG kind;
- `GET /api/v1/pipelines/{id}/run-requests/?id=N` → the run requests (status, run, error);
- `GET /api/v1/pipelines/{id}/` carries `latest_version` (number, dag, parameter_schema).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from pipelines import access, selectors
from pipelines.api.serializers import PipelineRunDetailSerializer, PipelineSerializer
from pipelines.models import PipelineRun, PipelineVersion, RunRequest, RunTrigger
from pipelines.selectors.versions import (
    pipeline_version_for_trigger,
    pipeline_versions_visible_to,
    run_requests_visible_to,
)
from pipelines.services.triggers import start_run


class TriggerSerializer(serializers.Serializer):
    parameters = serializers.DictField(required=False, default=dict)
    enable_cache = serializers.BooleanField(required=False, allow_null=True, default=None)
    run_name = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=200, default=None)
    version = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**31 - 1, default=None)


class PipelineVersionSerializer(serializers.ModelSerializer):
    starts_without_code = serializers.BooleanField(read_only=True)

    class Meta:
        model = PipelineVersion
        fields = ["id", "number", "dag", "parameter_schema", "pipeline_source", "starts_without_code", "created_at"]


class RunRequestSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="pipeline_version.number")
    pipeline = serializers.IntegerField(source="pipeline_version.pipeline_id")
    url = serializers.SerializerMethodField()

    class Meta:
        model = RunRequest
        fields = [
            "id",
            "pipeline",
            "version",
            "status",
            "parameters",
            "enable_cache",
            "run_name",
            "trigger",
            "run",
            "error",
            "created_at",
            "finished_at",
            "url",
        ]

    def get_url(self, obj: RunRequest) -> str:
        pipeline_id = obj.pipeline_version.pipeline_id
        return f"{reverse('pipeline-run-requests', kwargs={'pk': pipeline_id})}?id={obj.id}"


class PipelineDetailSerializer(PipelineSerializer):
    """The pipeline's detail: its fields and its newest version (for the OpenAPI schema)."""

    latest_version = PipelineVersionSerializer(read_only=True, allow_null=True)

    class Meta(PipelineSerializer.Meta):
        fields = [*PipelineSerializer.Meta.fields, "latest_version"]


def latest_version_representation(user: access.User, *, pipeline_id: int) -> dict[str, Any] | None:
    version = pipeline_versions_visible_to(user, pipeline_id=pipeline_id).first()
    return PipelineVersionSerializer(version).data if version is not None else None


class PipelineTriggerMixin:
    """The pipelines endpoint's actions for starting runs without the code."""

    @extend_schema(responses=PipelineDetailSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().retrieve(request, *args, **kwargs)  # type: ignore[misc]
        response.data["latest_version"] = latest_version_representation(request.user, pipeline_id=response.data["id"])
        return response

    @extend_schema(request=TriggerSerializer, responses={201: PipelineRunDetailSerializer, 202: RunRequestSerializer})
    @action(detail=True, methods=["post"], url_path="runs", url_name="runs")
    def trigger(self, request: Request, pk: str) -> Response:
        """Start a run of the pipeline's newest (or the given) version with new
        parameters. 201 with the run; 202 with a run request when the pipeline's DAG
        depends on its parameters (a worker compiles it: follow `url` to its run)."""
        pipeline = self.get_object()  # type: ignore[attr-defined]
        access.require_run_start(request.user)
        data = TriggerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        version = pipeline_version_for_trigger(request.user, pipeline_id=pipeline.id, number=fields["version"])
        if version is None:
            if fields["version"] is not None:
                raise ValidationError({"version": [f"Pipeline {pipeline.name!r} has no version {fields['version']}."]})
            raise ValidationError(
                {"version": [f"Pipeline {pipeline.name!r} has no stored version; run it once from its code."]}
            )
        try:
            started = start_run(
                pipeline_version=version,
                parameters=fields["parameters"],
                enable_cache=fields["enable_cache"],
                run_name=fields["run_name"] or None,
                user=request.user,
                trigger=RunTrigger.API,
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        if isinstance(started, PipelineRun):
            run = selectors.runs_with_steps(request.user).get(id=started.id)
            return Response(PipelineRunDetailSerializer(run).data, status=status.HTTP_201_CREATED)
        body = RunRequestSerializer(started).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})

    @extend_schema(responses=PipelineVersionSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="versions", url_name="versions", filter_backends=[])
    def versions(self, request: Request, pk: str) -> Response:
        """The pipeline's stored versions, newest first, with their parameter schemas."""
        pipeline = self.get_object()  # type: ignore[attr-defined]
        versions = pipeline_versions_visible_to(request.user, pipeline_id=pipeline.id)
        page = self.paginate_queryset(versions)  # type: ignore[attr-defined]
        return self.get_paginated_response(PipelineVersionSerializer(page, many=True).data)  # type: ignore[attr-defined]

    @extend_schema(responses=RunRequestSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="run-requests", url_name="run-requests", filter_backends=[])
    def run_requests(self, request: Request, pk: str) -> Response:
        """Runs asked for without the code whose DAG a worker compiles, newest first
        (`?id=N`: that one): `status` pending, compiling, started (`run`) or failed (`error`)."""
        pipeline = self.get_object()  # type: ignore[attr-defined]
        requests = run_requests_visible_to(request.user, pipeline_id=pipeline.id)
        wanted = request.query_params.get("id")
        if wanted is not None:
            if not (wanted.isascii() and wanted.isdigit()):
                raise ValidationError({"id": ["id must be a run request's number."]})
            requests = requests.filter(id=int(wanted))
            if not requests.exists():
                raise NotFound(f"Pipeline {pipeline.name!r} has no run request {wanted}.")
        page = self.paginate_queryset(requests)  # type: ignore[attr-defined]
        return self.get_paginated_response(RunRequestSerializer(page, many=True).data)  # type: ignore[attr-defined]
