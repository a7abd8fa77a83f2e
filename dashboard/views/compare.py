"""Compare 2 to 10 runs side by side: parameters, metadata, outputs and step durations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.metadata_display import shown_value
from dashboard.previews import Preview, preview_for
from dashboard.templatetags.dashboard import duration
from pipelines import selectors

if TYPE_CHECKING:
    from pipelines.models import ArtifactVersion, PipelineRun

MIN_RUNS = 2
MAX_RUNS = 10
# Side-by-side previews are read from the artifact store; past this many changed
# outputs the page shows checksums only, so one comparison reads a bounded amount.
MAX_PREVIEWED_OUTPUTS = 10


@dataclass
class Cell:
    text: str = ""
    present: bool = True
    href: str = ""
    version: ArtifactVersion | None = None
    preview: Preview | None = None


@dataclass
class Row:
    label: str
    cells: list[Cell]
    same: bool
    sublabel: str = ""
    previews: bool = False


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    hidden: int = 0  # rows left out by "differences only"


def _run_ids(values: list[str]) -> tuple[list[int], list[str]]:
    ids: list[int] = []
    bad: list[str] = []
    for value in values:
        if value.strip().isdigit():
            run_id = int(value)
            if run_id not in ids:
                ids.append(run_id)
        elif value.strip():
            bad.append(value[:40])
    return ids, bad


@login_required
def compare_runs(request: HttpRequest) -> HttpResponse:
    ids, bad = _run_ids(request.GET.getlist("run"))
    diff_only = request.GET.get("diff") == "1"
    problems = [f"“{value}” is not a run id." for value in bad]
    runs: list[PipelineRun] = []
    if MIN_RUNS <= len(ids) <= MAX_RUNS:
        found = {run.id: run for run in selectors.runs_for_compare(request.user, run_ids=ids)}
        missing = [run_id for run_id in ids if run_id not in found]
        if missing:
            problems.append(f"No run with id {', '.join(map(str, missing))}.")
        runs = [found[run_id] for run_id in ids if run_id in found]
    if len(ids) > MAX_RUNS:
        problems.append(f"Pick at most {MAX_RUNS} runs to compare; {len(ids)} were picked.")
    elif len(runs) < MIN_RUNS:
        problems.append(
            f"Pick between {MIN_RUNS} and {MAX_RUNS} runs to compare: tick them in the runs list and press Compare."
        )
        runs = []
    sections = _sections(runs, diff_only=diff_only) if runs else []
    return render(
        request,
        "dashboard/compare.html",
        {"runs": runs, "sections": sections, "problems": problems, "diff_only": diff_only, "max_runs": MAX_RUNS},
    )


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _section(title: str, rows: list[Row], *, diff_only: bool) -> Section:
    shown = [row for row in rows if not (diff_only and row.same)]
    return Section(title=title, rows=shown, hidden=len(rows) - len(shown))


def _sections(runs: list[PipelineRun], *, diff_only: bool) -> list[Section]:
    return [
        _section("Parameters", _parameter_rows(runs), diff_only=diff_only),
        _section("Run metadata", _metadata_rows(runs), diff_only=diff_only),
        _section("Outputs (checksums)", _output_rows(runs, diff_only=diff_only), diff_only=diff_only),
        _section("Step durations", _duration_rows(runs), diff_only=diff_only),
    ]


def _parameter_rows(runs: list[PipelineRun]) -> list[Row]:
    keys = sorted({key for run in runs for key in (run.parameters or {})})
    rows = []
    for key in keys:
        raw = [_json_text(run.parameters[key]) if key in (run.parameters or {}) else None for run in runs]
        cells = [Cell(text=value or "", present=value is not None) for value in raw]
        rows.append(Row(label=key, cells=cells, same=len(set(raw)) == 1))
    return rows


def _metadata_rows(runs: list[PipelineRun]) -> list[Row]:
    latest = [{entry["key"]: entry for entry in selectors.latest_metadata(run.metadata.all())} for run in runs]
    keys = sorted({key for entries in latest for key in entries})
    rows = []
    for key in keys:
        entries = [entries.get(key) for entries in latest]
        cells = []
        for entry in entries:
            if entry is None:
                cells.append(Cell(present=False))
                continue
            text, href = shown_value(entry["value"], entry["type"])
            cells.append(Cell(text=text, href=href))
        compared = {None if e is None else (e["type"], json.dumps(e["value"], sort_keys=True)) for e in entries}
        rows.append(Row(label=key, cells=cells, same=len(compared) == 1))
    return rows


def _step_names(runs: list[PipelineRun]) -> list[str]:
    names: list[str] = []
    for run in runs:
        for step in run.steps.all():
            if step.name not in names:
                names.append(step.name)
    return names


def _output_rows(runs: list[PipelineRun], *, diff_only: bool) -> list[Row]:
    outputs = [
        {(step.name, link.name): link.artifact_version for step in run.steps.all() for link in step.output_links.all()}
        for run in runs
    ]
    order = {name: index for index, name in enumerate(_step_names(runs))}
    keys = sorted({key for per_run in outputs for key in per_run}, key=lambda key: (order.get(key[0], 0), key[1]))
    previewed = 0
    rows = []
    for step_name, output_name in keys:
        versions = [per_run.get((step_name, output_name)) for per_run in outputs]
        checksums = {version.checksum if version else None for version in versions}
        same = len(checksums) == 1
        show_previews = not same and previewed < MAX_PREVIEWED_OUTPUTS
        previewed += show_previews
        cells = [
            Cell(present=False)
            if version is None
            else Cell(
                text=version.checksum[:12] if version.checksum else "(no checksum)",
                version=version,
                preview=preview_for(version, small=True) if show_previews and version.status == "ready" else None,
            )
            for version in versions
        ]
        rows.append(Row(label=f"{step_name} → {output_name}", cells=cells, same=same, previews=show_previews))
    return rows


def _duration_rows(runs: list[PipelineRun]) -> list[Row]:
    per_run = [{step.name: step for step in run.steps.all()} for run in runs]
    rows = []
    for name in _step_names(runs):
        cells = []
        for steps in per_run:
            step = steps.get(name)
            if step is None:
                cells.append(Cell(present=False))
                continue
            took = step.finished_at - step.started_at if step.started_at and step.finished_at else None
            cells.append(Cell(text=f"{duration(took)} · {step.status}"))
        rows.append(Row(label=name, cells=cells, same=len({(c.present, c.text) for c in cells}) == 1))
    return rows
