"""Global search: the header's box on every page opens `/search/?q=`."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from pipelines.selectors.search import (
    SEARCH_GROUP_LIMIT,
    SEARCH_MAX_CHARS,
    SearchQueryError,
    search_names,
    search_query_clean,
)

# Each group: its heading, and the list page that filters by name (model versions have none).
GROUPS = {
    "pipelines": ("Pipelines", "dashboard:pipeline-list"),
    "runs": ("Runs", "dashboard:run-list"),
    "artifacts": ("Artifacts", "dashboard:artifact-list"),
    "models": ("Models", "dashboard:model-list"),
    "model_versions": ("Model versions", ""),
}


def _see_all(url_name: str, query: str) -> str:
    if not url_name:
        return ""
    params = QueryDict(mutable=True)
    params["name"] = query
    return f"{reverse(url_name)}?{params.urlencode()}"


@login_required
def search(request: HttpRequest) -> HttpResponse:
    raw = request.GET.get("q", "")
    error = ""
    try:
        query = search_query_clean(raw)
    except SearchQueryError as exc:
        query, error = "", f"q: {exc}"
    groups = [
        {
            "kind": group.kind,
            "label": GROUPS[group.kind][0],
            "rows": group.rows,
            "more": group.more,
            "see_all": _see_all(GROUPS[group.kind][1], query),
        }
        for group in search_names(request.user, query=query)
    ]
    context = {
        # A refused query is not echoed back into the box: it may be megabytes long.
        "query": query,
        "error": error,
        "groups": groups,
        "found": sum(len(group["rows"]) for group in groups),
        "limit": SEARCH_GROUP_LIMIT,
        "max_chars": SEARCH_MAX_CHARS,
    }
    return render(request, "dashboard/search.html", context, status=400 if error else 200)
