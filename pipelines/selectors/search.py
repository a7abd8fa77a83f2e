"""The dashboard's global search: pipelines, runs, artifacts, models and model
versions whose name contains the query (case-insensitive).

One query per group, each cut at `limit + 1` rows (the extra row says there are
more) and ordered newest first along the primary key, so a common word stops
early. A name that matches nothing costs a scan of that table's names: on
PostgreSQL `icontains` is `UPPER(name) LIKE UPPER('%q%')`, which no b-tree index
serves. On bench/dashboard_bench.py's history (10,001 runs, 2,500 model versions)
the run scan is the largest part, 35-80 ms on a loaded 2-core machine; it grows with
the number of runs. A pg_trgm GIN index on UPPER(name) would serve it (a migration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines import access

# Longer queries are refused (no name is this long but a run name, 255 at most).
SEARCH_MAX_CHARS = 200
SEARCH_GROUP_LIMIT = 10


class SearchQueryError(ValueError):
    """The query cannot be searched for; the message says why and what to do."""


@dataclass(frozen=True)
class SearchGroup:
    kind: str  # "pipelines", "runs", "artifacts", "models", "model_versions"
    rows: list[dict[str, Any]]  # at most `limit`, newest first
    more: bool  # more than `limit` matched


def search_query_clean(raw: str) -> str:
    """The query as searched: trimmed; refused when it cannot be one (a NUL, too long)."""
    query = raw.strip()
    if "\x00" in query:
        raise SearchQueryError("The search text contains a NUL character (\\0), which no name holds: remove it.")
    if len(query) > SEARCH_MAX_CHARS:
        raise SearchQueryError(
            f"The search text is {len(query)} characters long; names are searched with at most "
            f"{SEARCH_MAX_CHARS}. Shorten it."
        )
    return query


def search_names(user: access.User, *, query: str, limit: int = SEARCH_GROUP_LIMIT) -> list[SearchGroup]:
    """Every group, in a fixed order, for a query already through `search_query_clean`."""
    if not query:
        return []
    found = {
        "pipelines": access.pipelines_visible(user).values("id", "name"),
        "runs": access.runs_visible(user).values("id", "name", "status", "created_at", "pipeline__name"),
        "artifacts": access.artifacts_visible(user).values("id", "name"),
        "models": access.models_visible(user).values("id", "name"),
        "model_versions": access.model_versions_visible(user).values("id", "name", "stage", "model_id", "model__name"),
    }
    groups = []
    for kind, rows in found.items():
        matched = list(rows.filter(name__icontains=query).order_by("-id")[: limit + 1])
        groups.append(SearchGroup(kind=kind, rows=matched[:limit], more=len(matched) > limit))
    return groups
