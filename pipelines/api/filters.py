"""Filters for the list endpoints (django-filter), one FilterSet per resource, and the
filter backends that refuse what they do not understand.

Every list answers 400 to a query parameter it does not know, and to an ordering
field it does not offer, listing the valid ones: a misspelt filter (`?user_id=`,
`?sort_by=`, `?size=`) used to be ignored, answering with something else than asked.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import django_filters
from django import forms
from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery, TextField, Value
from django.db.models.functions import Cast, StrIndex
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, status
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.settings import api_settings

from pipelines.models import (
    Artifact,
    ArtifactVersion,
    MLModel,
    ModelStage,
    ModelVersion,
    Pipeline,
    PipelineRun,
    StepRun,
)

# ASCII digits only: str.isdigit() also accepts "²" and "٣", which int() then refuses.
_ID = re.compile(r"[0-9]{1,18}")
# PostgreSQL's timestamptz takes UTC offsets up to ±15:59; Python's up to ±23:59.
_MAX_UTC_OFFSET = timedelta(hours=16)


def is_id(value: str) -> bool:
    """A database id as a client writes it: up to 18 ASCII digits (fits a bigint)."""
    return _ID.fullmatch(value) is not None


def _id_or_name(field: str):  # type: ignore[no-untyped-def]
    """A filter that takes a numeric id or a name for a related object."""

    def apply(queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(**({f"{field}_id": int(value)} if is_id(value) else {f"{field}__name": value}))

    return apply


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """ISO 8601, turned to UTC here so that no database sees an offset it refuses."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        offset = parsed.utcoffset()
        if offset is not None and abs(offset) >= _MAX_UTC_OFFSET:
            raise forms.ValidationError("The UTC offset must be between -15:59 and +15:59.", code="invalid")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("The date is out of range once turned to UTC.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


# ZenML's string operators, `?name=startswith:train` (see StringFilter).
STRING_OPERATORS = {
    "equals": "exact",
    "notequals": "exact",
    "contains": "icontains",
    "startswith": "istartswith",
    "endswith": "iendswith",
    "oneof": "in",
    "in": "in",
}


def _operands(value: str) -> list[str]:
    """`oneof:`/`in:` take a JSON list (ZenML's form, `oneof:["a","b"]`) or `a,b`."""
    if value.startswith("["):
        try:
            items = json.loads(value)
        except ValueError:
            items = None
        if not isinstance(items, list) or not all(isinstance(item, str | int) for item in items):
            raise exceptions.ValidationError(
                f'{value!r} is not a JSON list of strings; write oneof:["a","b"] or oneof:a,b.'
            )
        return [str(item) for item in items]
    return [item for item in value.split(",") if item]


class StringFilter(django_filters.CharFilter):
    """A string field with ZenML's operators: `equals:`, `notequals:`, `contains:`,
    `startswith:`, `endswith:` (case-insensitive but equals), `oneof:`/`in:` (a JSON
    list or commas); a value without an operator keeps the filter's own lookup.
    Names and versions hold no ':', so `word:` is always an operator: an unknown one
    is a 400 naming the valid ones."""

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        if value in ([], (), {}, "", None):
            return qs
        operator, colon, operand = str(value).partition(":")
        if not colon:
            return super().filter(qs, value)
        if operator not in STRING_OPERATORS:
            raise exceptions.ValidationError(
                {
                    self.field_name: [
                        f"Unknown operator {operator!r} in {value!r}; use one of "
                        f"{', '.join(op + ':' for op in STRING_OPERATORS)} (or a plain value)."
                    ]
                }
            )
        lookup = {
            f"{self.field_name}__{STRING_OPERATORS[operator]}": _operands(operand)
            if STRING_OPERATORS[operator] == "in"
            else operand
        }
        return qs.exclude(**lookup) if operator == "notequals" else qs.filter(**lookup)


def _has_metadata(queryset: QuerySet, name: str, value: str) -> QuerySet:
    return queryset.filter(metadata__key=value).distinct()


class PipelineFilter(django_filters.FilterSet):
    tag = django_filters.CharFilter(method="_tag", help_text="Pipelines with this tag.")

    def _tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _has_tag(queryset, name, value)

    class Meta:
        model = Pipeline
        fields: list[str] = []


class PipelineRunFilter(django_filters.FilterSet):
    pipeline = django_filters.CharFilter(method=_id_or_name("pipeline"), help_text="Pipeline id or name.")
    status = django_filters.CharFilter()
    schedule = django_filters.CharFilter(method=_id_or_name("schedule"), help_text="Its schedule (id or name).")
    name = StringFilter(lookup_expr="icontains", help_text="Contains; or ZenML's equals:, startswith:, ...")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lte")
    metadata_key = django_filters.CharFilter(method=_has_metadata, help_text="Runs with metadata under this key.")
    tag = django_filters.CharFilter(method="_tags", help_text="Runs with this tag; repeated, with all of them.")

    def _tags(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # `?tag=a&tag=b`: every tag given (ZenML's `tags=[...]`), not only the last.
        values = self.data.getlist(name) if hasattr(self.data, "getlist") else [value]
        # The form checked only the last value; the others get the same checks here.
        if any("\x00" in tag or len(tag) > 100 for tag in values) or len(values) > 20:
            raise exceptions.ValidationError(
                {name: ["Give at most 20 tags of at most 100 characters each, without NUL characters."]}
            )
        for index, tag in enumerate(dict.fromkeys(tag for tag in values if tag)):
            if connection.vendor == "postgresql":
                queryset = queryset.filter(tags__contains=[tag])
            else:  # as _has_tag, under an alias of its own per tag
                at = StrIndex(Cast("tags", TextField()), Value(json.dumps(tag)))
                queryset = queryset.annotate(**{f"_run_tag_{index}": at}).filter(**{f"_run_tag_{index}__gt": 0})
        return queryset

    class Meta:
        model = PipelineRun
        fields: list[str] = []


class StepRunFilter(django_filters.FilterSet):
    run = django_filters.CharFilter(method=_id_or_name("pipeline_run"), help_text="Run id or name.")
    status = django_filters.CharFilter()
    name = StringFilter(help_text="Equals; or ZenML's contains:, startswith:, ...")
    metadata_key = django_filters.CharFilter(method=_has_metadata)

    class Meta:
        model = StepRun
        fields: list[str] = []


class ArtifactFilter(django_filters.FilterSet):
    name = StringFilter(lookup_expr="icontains", help_text="Contains; or ZenML's equals:, startswith:, ...")
    tag = django_filters.CharFilter(method="_tag", help_text="Artifacts with this tag.")

    def _tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _has_tag(queryset, name, value)

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
    version = StringFilter(help_text="Equals; or ZenML's contains:, startswith:, ...")
    tag = django_filters.CharFilter(method=_has_tag)
    metadata_key = django_filters.CharFilter(method=_has_metadata)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = ArtifactVersion
        fields: list[str] = []


class ModelFilter(django_filters.FilterSet):
    name = StringFilter(lookup_expr="icontains", help_text="Contains; or ZenML's equals:, startswith:, ...")
    tag = django_filters.CharFilter(method="_tag", help_text="Models with this tag.")

    def _tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _has_tag(queryset, name, value)

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
    return queryset.filter(number=int(value)) if is_id(value) else queryset.filter(name=value)


class ModelVersionFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(method=_id_or_name("model"), help_text="Model id or name.")
    version = django_filters.CharFilter(method=_version_or_stage, help_text="Name, number, stage or `latest`.")
    stage = django_filters.CharFilter()
    tag = django_filters.CharFilter(method="_tag", help_text="Versions with this tag.")

    def _tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _has_tag(queryset, name, value)

    class Meta:
        model = ModelVersion
        fields: list[str] = []


# --- Backends ------------------------------------------------------------------


class UnknownQueryParameter(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "unknown_parameter"


class KnownParametersFilterBackend(DjangoFilterBackend):
    """django-filter's backend that refuses a list's unknown query parameters.

    Checked on lists only: other actions read their own parameters (a long-poll's
    `revision`, a lookup's `artifact`), which no backend knows about."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        if getattr(view, "action", None) == "list":
            refuse_unknown_parameters(request, queryset, view)
        return super().filter_queryset(request, queryset, view)


def valid_query_parameters(queryset: QuerySet, view: Any) -> list[str]:
    names: set[str] = {api_settings.URL_FORMAT_OVERRIDE} if api_settings.URL_FORMAT_OVERRIDE else set()
    for backend_class in getattr(view, "filter_backends", ()):
        backend = backend_class()
        if isinstance(backend, DjangoFilterBackend):
            filterset_class = backend.get_filterset_class(view, queryset)
            if filterset_class is not None:
                names.update(filterset_class.base_filters)
        if isinstance(backend, OrderingFilter):
            names.add(backend.ordering_param)
    paginator = getattr(view, "paginator", None)
    for attribute in ("limit_query_param", "offset_query_param", "page_query_param", "page_size_query_param"):
        name = getattr(paginator, attribute, None)
        if name:
            names.add(name)
    return sorted(names)


def refuse_unknown_parameters(request: Request, queryset: QuerySet, view: Any) -> None:
    valid = valid_query_parameters(queryset, view)
    unknown = sorted(set(request.query_params) - set(valid))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise UnknownQueryParameter(
            f"Unknown query parameter{'s' if len(unknown) > 1 else ''} {names}; the valid ones are: {', '.join(valid)}."
        )


class StrictOrderingFilter(OrderingFilter):
    """`?ordering=` with a field the list does not offer is a 400 naming the ones it does."""

    def remove_invalid_fields(self, queryset: QuerySet, fields: list[str], view: Any, request: Request) -> list[str]:
        valid = [item[0] for item in self.get_valid_fields(queryset, view, {"request": request})]
        wrong = [term for term in fields if term.removeprefix("-") not in valid]
        if wrong:
            choices = ", ".join(valid)
            raise exceptions.ValidationError(
                {
                    self.ordering_param: [
                        f"Cannot order by {', '.join(map(repr, wrong))}; order by one of: {choices} "
                        "(prefix '-' for descending, separate several with commas)."
                    ]
                }
            )
        return fields
