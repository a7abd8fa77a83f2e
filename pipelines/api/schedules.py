"""Schedules on the API: `/api/v1/schedules/` (list, create) and `/api/v1/schedules/{id}/`
(get, patch, delete). Reading is the team's; creating is any signed-in person's;
changing or deleting someone else's needs `pipelines.change_schedule` /
`pipelines.delete_schedule` (`pipelines.access`).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from pipelines import access
from pipelines.api.filters import _id_or_name
from pipelines.api.views import IdOrNameLookupMixin, ReadOnlyViewSet
from pipelines.models import Schedule
from pipelines.services.schedules import (
    schedule_create,
    schedule_delete,
    schedule_next_due_times,
    schedule_update,
)


class ScheduleSerializer(serializers.ModelSerializer):
    pipeline_name = serializers.CharField(source="pipeline.name", read_only=True)
    pipeline_version = serializers.IntegerField(
        source="pipeline_version.number", read_only=True, default=None, allow_null=True
    )
    active = serializers.SerializerMethodField()
    next_due_times = serializers.SerializerMethodField()
    last_due_at = serializers.DateTimeField(source="last_fired_due_at", read_only=True, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None, allow_null=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Schedule
        fields = [
            "id",
            "name",
            "pipeline",
            "pipeline_name",
            "pipeline_version",
            "cron_expression",
            "interval_seconds",
            "timezone",
            "start_time",
            "end_time",
            "run_once_start_time",
            "catchup",
            "active",
            "paused",
            "parameters",
            "enable_cache",
            "next_due_times",
            "last_due_at",
            "created_by",
            "created_at",
            "updated_at",
            "url",
        ]

    def get_active(self, schedule: Schedule) -> bool:
        return not schedule.paused

    def get_next_due_times(self, schedule: Schedule) -> list[str]:
        return [moment.isoformat() for moment in schedule_next_due_times(schedule)]

    def get_url(self, schedule: Schedule) -> str:
        path = reverse("dashboard:schedule-detail", kwargs={"schedule_id": schedule.id})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class ScheduleTimingFields(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=200)
    cron_expression = serializers.CharField(required=False, allow_blank=True, max_length=200)
    interval_seconds = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=10 * 366 * 86400
    )
    timezone = serializers.CharField(required=False, max_length=64)
    start_time = serializers.DateTimeField(required=False, allow_null=True)
    end_time = serializers.DateTimeField(required=False, allow_null=True)
    run_once_start_time = serializers.DateTimeField(required=False, allow_null=True)
    catchup = serializers.BooleanField(required=False)
    parameters = serializers.DictField(required=False)
    enable_cache = serializers.BooleanField(required=False, allow_null=True)


class ScheduleCreateSerializer(ScheduleTimingFields):
    spec = serializers.DictField(help_text="The compiled pipeline spec (what `@pipeline` functions post to runs/).")


class ScheduleUpdateSerializer(ScheduleTimingFields):
    active = serializers.BooleanField(required=False, help_text="false pauses, true resumes (as ZenML's).")
    paused = serializers.BooleanField(required=False)


class ScheduleFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Name contains.")
    pipeline = django_filters.CharFilter(method=_id_or_name("pipeline"), help_text="Pipeline id or name.")
    active = django_filters.BooleanFilter(method="_active", help_text="true: not paused; false: paused.")

    def _active(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        return queryset if value is None else queryset.filter(paused=not value)

    class Meta:
        model = Schedule
        fields: list[str] = []


def _refused(exc: DjangoValidationError) -> ValidationError:
    """The service's ValidationError as the API's 400, naming the field."""
    if hasattr(exc, "error_dict"):
        return ValidationError(exc.message_dict)
    return ValidationError(exc.messages)


class ScheduleViewSet(IdOrNameLookupMixin, ReadOnlyViewSet):
    serializer_class = ScheduleSerializer
    filterset_class = ScheduleFilter
    ordering_fields = ["id", "name", "created_at", "next_due_at"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet:
        return access.schedules_visible(self.request.user).select_related("pipeline", "pipeline_version", "created_by")

    def _answer(self, schedule: Schedule, *, code: int = status.HTTP_200_OK) -> Response:
        schedule = self.get_queryset().get(id=schedule.id)
        return Response(ScheduleSerializer(schedule, context={"request": self.request}).data, status=code)

    @extend_schema(request=ScheduleCreateSerializer, responses={201: ScheduleSerializer})
    def create(self, request: Request) -> Response:
        """Schedule a compiled pipeline spec: give one of `cron_expression` (in `timezone`,
        default the server's), `interval_seconds` (from `start_time`, default now) or
        `run_once_start_time`."""
        if not access.may_create_schedule(request.user):
            raise PermissionDenied("Creating a schedule needs a signed-in, active user.")
        data = ScheduleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields: dict[str, Any] = dict(data.validated_data)
        try:
            schedule = schedule_create(
                spec=fields.pop("spec"),
                user=request.user,
                timezone_name=fields.pop("timezone", None),
                **fields,
            )
        except DjangoValidationError as exc:
            raise _refused(exc) from None
        return self._answer(schedule, code=status.HTTP_201_CREATED)

    @extend_schema(request=ScheduleUpdateSerializer, responses=ScheduleSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Pause (`active: false`), resume, or change the timing, parameters or name."""
        schedule = self.get_object()
        data = ScheduleUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes: dict[str, Any] = dict(data.validated_data)
        pausing_only = bool(changes) and set(changes) <= {"active", "paused"}
        access.require_schedule_change(request.user, schedule, action="pause" if pausing_only else "change")
        if "active" in changes:
            active = changes.pop("active")
            if "paused" in changes and changes["paused"] == active:
                raise ValidationError({"active": "active and paused disagree; give one of them."})
            changes["paused"] = not active
        if not changes:
            raise ValidationError(
                "Nothing to change: give active, cron_expression, interval_seconds, parameters, ... (see the API docs)."
            )
        try:
            schedule = schedule_update(schedule=schedule, changes=changes)
        except DjangoValidationError as exc:
            raise _refused(exc) from None
        return self._answer(schedule)

    def destroy(self, request: Request, pk: str) -> Response:
        """Delete the schedule; the runs it started stay."""
        schedule = self.get_object()
        access.require_schedule_change(request.user, schedule, action="delete")
        schedule_delete(schedule=schedule)
        return Response(status=status.HTTP_204_NO_CONTENT)
