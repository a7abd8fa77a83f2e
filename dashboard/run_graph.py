"""The data behind a run's DAG and timeline: one shape for the first render and
for every live poll, so the page's script has a single code path."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.urls import reverse
from django.utils import timezone

from pipelines.models import FINISHED_RUN_STATUSES, RunStatus, StepStatus
from pipelines.selectors import STEP_PHASE_FIELDS


class StepState(TypedDict):
    id: int
    name: str
    status: str
    label: str
    attempt: int
    url: str
    queued_at: str | None
    started_at: str | None
    user_code_started_at: str | None
    user_code_finished_at: str | None
    finished_at: str | None


class Edge(TypedDict):
    source: str
    target: str
    label: str
    kind: str  # "data" (an artifact flows) or "order" (`after=`)


class RunState(TypedDict):
    id: int
    status: str
    label: str
    finished: bool
    revision: int
    now: str
    steps: list[StepState]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def step_states(rows: Iterable[dict[str, Any]]) -> list[StepState]:
    """Step rows (from `selectors.run_step_rows`) as the page's script reads them."""
    # reverse() once: a hundred steps would otherwise resolve the URL a hundred times.
    url = reverse("dashboard:step-detail", args=[0]).replace("/0/", "/{}/")
    return [
        {
            "id": row["id"],
            "name": row["name"],
            "status": row["status"],
            "label": StepStatus(row["status"]).label,
            "attempt": row["attempt"],
            "url": url.format(row["id"]),
            **{field: _iso(row[field]) for field in STEP_PHASE_FIELDS},  # type: ignore[typeddict-item]
        }
        for row in rows
    ]


def run_state(run: dict[str, Any], rows: Iterable[dict[str, Any]]) -> RunState:
    """What the run page polls: the run's status and revision and every step's state."""
    return {
        "id": run["id"],
        "status": run["status"],
        "label": RunStatus(run["status"]).label,
        "finished": run["status"] in FINISHED_RUN_STATUSES,
        "revision": run["revision"],
        "now": timezone.now().isoformat(),
        "steps": step_states(rows),
    }


def edges_of(spec: dict[str, Any]) -> list[Edge]:
    """Step-to-step edges from a compiled run spec: one per artifact that flows
    (labelled with the producer's output name, which is the artifact's name for
    named outputs) and one per `after=` ordering without data."""
    edges: dict[tuple[str, str, str], Edge] = {}
    for step in spec.get("steps", []):
        target = step["name"]
        for ref in (step.get("inputs") or {}).values():
            key = (ref["step"], target, ref["output"])
            edges.setdefault(key, {"source": ref["step"], "target": target, "label": ref["output"], "kind": "data"})
        fed_by = {ref["step"] for ref in (step.get("inputs") or {}).values()}
        for name in step.get("after") or []:
            if name not in fed_by:
                edges.setdefault((name, target, ""), {"source": name, "target": target, "label": "", "kind": "order"})
    return list(edges.values())


def run_graph(*, run: dict[str, Any], spec: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the run page's script draws: the live state plus the edges."""
    return {**run_state(run, rows), "edges": edges_of(spec)}


def _between(start: datetime | None, end: datetime | None) -> timedelta | None:
    return end - start if start and end else None


def step_table(states: list[StepState], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run page's table of steps, with phase durations computed here rather
    than by a template tag per cell (a hundred steps render in a blink)."""
    return [
        {
            "state": state,
            "queue": row["queue"],
            "worker": row["worker"],
            "queued": _between(row["queued_at"], row["started_at"]),
            "starting": _between(row["started_at"], row["user_code_started_at"]),
            "user_code": _between(row["user_code_started_at"], row["user_code_finished_at"]),
            "saving": _between(row["user_code_finished_at"], row["finished_at"]),
        }
        for state, row in zip(states, rows, strict=True)
    ]
