"""The `?tag=` box of the artifact and model lists: one exact tag, as the API's `?tag=`."""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest

from pipelines.selectors.pages import with_tag
from pipelines.services.tags import TAG_MAX_LENGTH


class TagFilterForm(forms.Form):
    tag = forms.CharField(required=False, max_length=TAG_MAX_LENGTH, label="Tag")


def filter_by_tag(request: HttpRequest, queryset: QuerySet) -> tuple[QuerySet, str, str]:
    """(the rows with the query string's tag, the tag, why it was ignored): a value that
    cannot be a tag (too long, a NUL character) filters nothing and says why."""
    form = TagFilterForm({"tag": request.GET.get("tag", "")})
    if not form.is_valid():
        return queryset, request.GET.get("tag", "")[:TAG_MAX_LENGTH].replace("\x00", ""), " ".join(form.errors["tag"])
    tag = form.cleaned_data["tag"]
    return (with_tag(queryset, tag) if tag else queryset), tag, ""
