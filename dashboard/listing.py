"""Paging and sorting for dashboard lists, driven by the query string."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

PAGE_SIZE = 50


@dataclass(frozen=True)
class Listing:
    page_obj: Page
    sort: str


def paginate(
    request: HttpRequest,
    queryset: QuerySet,
    *,
    sorts: dict[str, str],
    default: str,
    per_page: int = PAGE_SIZE,
) -> Listing:
    """One page of `queryset`, ordered by the `sort` parameter.

    `sorts` maps the public sort names (what the URL carries) to model fields, so a
    URL can only order by what the page offers. `-name` sorts descending. An unknown
    sort falls back to `default`; a page number out of range gives the last page.
    The primary key breaks ties so pages never repeat or skip rows.
    """
    requested = request.GET.get("sort", "") or default
    descending = requested.startswith("-")
    field = sorts.get(requested.lstrip("-"))
    if field is None:
        requested = default
        descending = default.startswith("-")
        field = sorts[default.lstrip("-")]
    prefix = "-" if descending else ""
    ordered = queryset.order_by(f"{prefix}{field}", f"{prefix}pk")
    page_obj = Paginator(ordered, per_page).get_page(request.GET.get("page"))
    return Listing(page_obj=page_obj, sort=requested)
