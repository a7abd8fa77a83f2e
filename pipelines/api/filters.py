"""Filters for the list endpoints (django-filter), one FilterSet per resource."""

from __future__ import annotations

import json

import django_filters
from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery, TextField, Value
from django.db.models.functions import Cast, StrIndex

from pipelines.models import Artifact, ArtifactVersion, MLModel, ModelStage, ModelVersion, PipelineRun, StepRun


def _id_or_name(field: str):  # type: ignore[no-untyped-def]
    """A filter that takes a numeric id or a name for a related object."""

    def apply(queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(**({f"{field}_id": int(value)} if value.isdigit() else {f"{field}__name": value}))

    return apply


def _has_metadata(queryset: QuerySet, name: str, value: str) -> QuerySet:
    return queryset.filter(metadata__key=value).distinct()


class PipelineRunFilter(django_filters.FilterSet):
    pipeline = django_filters.CharFilter(method=_id_or_name("pipeline"), help_text="Pipeline id or name.")
    status = django_filters.CharFilter()
    name = django_filters.CharFilter(lookup_expr="icontains")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    metadata_key = django_filters.CharFilter(method=_has_metadata, help_text="Runs with metadata under this key.")

    class Meta:
        model = PipelineRun
        fields: list[str] = []


class StepRunFilter(django_filters.FilterSet):
    run = django_filters.CharFilter(method=_id_or_name("pipeline_run"), help_text="Run id or name.")
    status = django_filters.CharFilter()
    name = django_filters.CharFilter()
    metadata_key = django_filters.CharFilter(method=_has_metadata)

    class Meta:
        model = StepRun
        fields: list[str] = []


class ArtifactFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Artifact
        fields: list[str] = []


def _has_tag(queryset: QuerySet, name: str, value: str) -> QuerySet:
    """Versions whose tags hold exactly `value` (case and all)."""
    if connection.vendor == "postgresql":
        return queryset.filter(tags__contains=[value])  # jsonb containment
    # SQLite has no JSON containment in the ORM, and its LIKE ignores case: look for
    # the tag as Django wrote it into the JSON text (quoted and escaped), with instr(),
    # which does not.
    needle = json.dumps(value)
    return queryset.annotate(_tag_at=StrIndex(Cast("tags", TextField()), Value(needle))).filter(_tag_at__gt=0)


class ArtifactVersionFilter(django_filters.FilterSet):
    artifact = django_filters.CharFilter(method=_id_or_name("artifact"), help_text="Artifact id or name.")
    version = django_filters.CharFilter()
    tag = django_filters.CharFilter(method=_has_tag)
    metadata_key = django_filters.CharFilter(method=_has_metadata)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = ArtifactVersion
        fields: list[str] = []


class ModelFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = MLModel
        fields: list[str] = []


def _version_or_stage(queryset: QuerySet, name: str, value: str) -> QuerySet:
    """A version name or number, or a stage (`latest` is the newest version)."""
    if value == "latest":
        newest = ModelVersion.objects.filter(model=OuterRef("model")).order_by("-number").values("number")[:1]
        return queryset.filter(number=Subquery(newest))
    if value in ModelStage.values:
        return queryset.filter(stage=value)
    return queryset.filter(number=int(value)) if value.isdigit() else queryset.filter(name=value)


class ModelVersionFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(method=_id_or_name("model"), help_text="Model id or name.")
    version = django_filters.CharFilter(method=_version_or_stage, help_text="Name, number, stage or `latest`.")
    stage = django_filters.CharFilter()

    class Meta:
        model = ModelVersion
        fields: list[str] = []
