"""A run whose steps were cached: the run page says so and links the runs they came from."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipelines.models import StepRun
from pipelines.selectors import run_cached_sources, run_step_rows
from tests.unit.dashboard_data import make_run, make_step

pytestmark = pytest.mark.django_db


def _cached_copy(owner, source_steps, *, name):
    """A completed run whose steps are all cached from `source_steps` (no phase times)."""
    run = make_run(owner, name=name)
    for source in source_steps:
        StepRun.objects.create(
            pipeline_run=run,
            name=source.name,
            source=source.source,
            spec={},
            status="cached",
            cached_from=source,
        )
    return run


@pytest.fixture
def sources(owner):
    first = make_run(owner, name="first-run")
    second = make_run(owner, name="second-run")
    return [make_step(first, name="load"), make_step(first, name="train"), make_step(second, name="report")]


def test_a_fully_cached_run_says_every_step_was_cached_and_links_the_runs_they_came_from(client, owner, sources):
    run = _cached_copy(owner, sources, name="all-cached")
    client.force_login(owner)

    response = client.get(reverse("dashboard:run-detail", args=[run.id]))

    html = response.content.decode()
    assert "Every step of this run was cached: none ran" in html
    section = html.split('id="cached-sources"', 1)[1].split("</div>", 1)[0]
    for source in (sources[0], sources[2]):
        link = reverse("dashboard:run-detail", args=[source.pipeline_run_id])
        assert f'run <a href="{link}">{source.pipeline_run.name}</a>' in section
    for step in run.steps.all():
        assert reverse("dashboard:step-detail", args=[step.id]) in section
    # Every step of the graph the timeline draws is cached: its script says so instead
    # of "No step has been queued yet." (dashboard/static/dashboard/timeline.js).
    assert {step["status"] for step in response.context["graph"]["steps"]} == {"cached"}


def test_a_partly_cached_run_counts_its_cached_steps(client, owner, sources):
    run = _cached_copy(owner, sources[:1], name="partly")
    make_step(run, name="fresh")
    client.force_login(owner)

    html = client.get(reverse("dashboard:run-detail", args=[run.id])).content.decode()

    assert "1 step cached: it ran nowhere" in html
    assert "Every step of this run was cached" not in html
    assert ">first-run</a>" in html


def test_a_run_without_cached_steps_shows_no_cached_section(client, owner, sources):
    client.force_login(owner)

    html = client.get(reverse("dashboard:run-detail", args=[sources[0].pipeline_run_id])).content.decode()

    assert 'id="cached-sources"' not in html


def test_the_cached_sources_group_steps_by_source_run_and_survive_a_deleted_source(owner, sources):
    run = _cached_copy(owner, sources, name="all-cached")
    sources[2].pipeline_run.delete()  # cached_from is SET_NULL

    found = run_cached_sources(owner, step_rows=run_step_rows(owner, run_id=run.id))

    assert found.count == 3
    assert [(group["run_name"], [s["name"] for s in group["steps"]]) for group in found.runs] == [
        ("first-run", ["load", "train"]),
        ("", ["report"]),
    ]
    assert found.runs[1]["run_id"] is None


def test_the_deleted_source_is_named_as_such_on_the_page(client, owner, sources):
    run = _cached_copy(owner, sources[2:], name="orphan")
    sources[2].pipeline_run.delete()
    client.force_login(owner)

    html = client.get(reverse("dashboard:run-detail", args=[run.id])).content.decode()

    assert "cached from a run since deleted" in html


def test_cached_sources_cost_one_query_and_none_without_a_cached_step(django_assert_num_queries, owner, sources):
    cached = run_step_rows(owner, run_id=_cached_copy(owner, sources, name="all-cached").id)
    fresh = run_step_rows(owner, run_id=sources[0].pipeline_run_id)

    with django_assert_num_queries(1):
        assert run_cached_sources(owner, step_rows=cached).count == 3
    with django_assert_num_queries(0):
        assert run_cached_sources(owner, step_rows=fresh).count == 0
