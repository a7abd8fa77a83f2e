"""The pipelines, runs and steps pages: render, filter, sort, follow runs live,
stop and re-run them, with a fixed number of queries and no injected script."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from pipelines.models import (
    Artifact,
    ArtifactVersion,
    PipelineRun,
    RunMetadata,
    RunStatus,
    StepAttempt,
    StepRun,
    StepRunInput,
    StepRunOutput,
    StepStatus,
)
from pipelines.services.runs import pipeline_run_create
from secrets_app.models import SecretRead
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def make_run(user, scale: int = 1) -> PipelineRun:
    return pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=scale), user=user)


def finish(run: PipelineRun, status: str = RunStatus.COMPLETED) -> PipelineRun:
    """Move a run and its steps to the end by hand, with phase times and outputs."""
    now = timezone.now()
    step_status = StepStatus.COMPLETED if status == RunStatus.COMPLETED else StepStatus.FAILED
    for index, step in enumerate(run.steps.order_by("id")):
        start = now - timedelta(seconds=10 - index * 4)
        StepRun.objects.filter(id=step.id).update(
            status=step_status,
            attempt=1,
            queued_at=start,
            started_at=start + timedelta(seconds=0.5),
            user_code_started_at=start + timedelta(seconds=1),
            user_code_finished_at=start + timedelta(seconds=3),
            finished_at=start + timedelta(seconds=3.5),
            logs=f"hello from {step.name}\n",
        )
        StepAttempt.objects.create(step_run=step, number=1, started_at=start, finished_at=now, outcome="completed")
    PipelineRun.objects.filter(id=run.id).update(status=status, started_at=now - timedelta(seconds=10), finished_at=now)
    run.refresh_from_db()
    return run


def add_output(step: StepRun, name: str, artifact_name: str) -> ArtifactVersion:
    artifact, _ = Artifact.objects.get_or_create(name=artifact_name)
    version = ArtifactVersion.objects.create(
        artifact=artifact,
        version=str(artifact.versions.count() + 1),
        number=artifact.versions.count() + 1,
        uri=f"/tmp/{step.id}/{name}/{artifact.versions.count()}",
        producer_step_run=step,
        producer_attempt=1,
        checksum="abc123",
    )
    StepRunOutput.objects.create(step_run=step, name=name, artifact_version=version)
    return version


def wide_spec(steps: int, pipeline: str = "wide") -> dict:
    """A compiled spec of `steps` steps in a chain, each feeding the next."""
    spec = sample.numbers_pipeline.compile(scale=1)
    template = spec["steps"][0]
    spec["pipeline"] = pipeline
    spec["steps"] = [
        {
            **template,
            "name": f"s{i}",
            "inputs": {"x": {"step": f"s{i - 1}", "output": "numbers"}} if i else {},
        }
        for i in range(steps)
    ]
    return spec


@pytest.fixture
def run(owner) -> PipelineRun:
    """A completed run of two steps with an output, metadata and an attempt each."""
    run = finish(make_run(owner))
    load, total = run.steps.order_by("id")
    numbers = add_output(load, "numbers", "numbers")
    StepRunInput.objects.create(step_run=total, name="numbers", artifact_version=numbers)
    add_output(total, "output", "numbers_pipeline::total::output")
    RunMetadata.objects.create(key="accuracy", value=0.5, type="float", pipeline_run=run)
    RunMetadata.objects.create(key="accuracy", value=0.9, type="float", pipeline_run=run)
    RunMetadata.objects.create(key="rows", value=3, type="int", step_run=load)
    return run


def pages(run: PipelineRun) -> dict[str, str]:
    step = run.steps.order_by("id").first()
    return {
        "home": reverse("dashboard:home"),
        "pipeline-list": reverse("dashboard:pipeline-list"),
        "pipeline-detail": reverse("dashboard:pipeline-detail", args=[run.pipeline_id]),
        "run-list": reverse("dashboard:run-list"),
        "run-detail": reverse("dashboard:run-detail", args=[run.id]),
        "step-detail": reverse("dashboard:step-detail", args=[step.id]),
    }


PAGE_NAMES = ["home", "pipeline-list", "pipeline-detail", "run-list", "run-detail", "step-detail"]


# --- who may see the pages ------------------------------------------------------------
@pytest.mark.parametrize("page", PAGE_NAMES)
def test_every_page_renders_for_its_owner_with_the_run_on_it(client, owner, run, page):
    client.force_login(owner)

    response = client.get(pages(run)[page])

    assert response.status_code == 200
    expected = run.steps.order_by("id").first().name if page == "step-detail" else run.pipeline.name
    assert expected.encode() in response.content


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_every_page_renders_for_a_teammate_too_since_one_team_sees_every_run(client, teammate, run, page):
    client.force_login(teammate)

    response = client.get(pages(run)[page])

    assert response.status_code == 200
    assert run.pipeline.name.encode() in response.content


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_anonymous_visitors_are_sent_to_the_login_page(client, run, page):
    response = client.get(pages(run)[page])

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", ["run-live", "run-stop", "run-rerun"])
def test_the_run_endpoints_want_a_login_too(client, run, name):
    response = client.post(reverse(f"dashboard:{name}", args=[run.id]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert PipelineRun.objects.count() == 1


def test_the_log_endpoint_wants_a_login(client, run):
    response = client.get(reverse("dashboard:step-log", args=[run.steps.first().id]))

    assert response.status_code == 302


def test_unknown_runs_and_steps_are_not_found(client, owner):
    client.force_login(owner)

    for name in ["run-detail", "run-live", "step-detail", "step-log", "pipeline-detail"]:
        assert client.get(reverse(f"dashboard:{name}", args=[999])).status_code == 404


# --- what the pages show -----------------------------------------------------------------
def test_the_run_page_shows_steps_parameters_latest_metadata_outputs_and_the_dag_data(client, owner, run):
    client.force_login(owner)

    response = client.get(reverse("dashboard:run-detail", args=[run.id]))

    body = response.content.decode()
    graph = response.context["graph"]
    assert [step["name"] for step in graph["steps"]] == ["load", "total"]
    assert graph["edges"] == [{"source": "load", "target": "total", "label": "numbers", "kind": "data"}]
    assert graph["steps"][0]["url"] == reverse("dashboard:step-detail", args=[graph["steps"][0]["id"]])
    assert 'id="run-graph"' in body
    assert "&quot;scale&quot;: 1" in body  # the parameters
    assert response.context["metadata"] == [{"key": "accuracy", "type": "float", "text": "0.9", "href": ""}]
    assert (
        reverse(
            "dashboard:artifact-version-detail",
            args=[run.steps.get(name="load").output_links.get().artifact_version_id],
        )
        in body
    )
    assert "Re-run" in body
    assert reverse("dashboard:run-stop", args=[run.id]) not in body  # finished: nothing to stop


def test_a_running_run_offers_stop_and_links_its_model_version(client, owner):
    spec = sample.numbers_pipeline.compile(scale=1)
    spec["model"] = {"name": "classifier"}
    run = pipeline_run_create(spec=spec, user=owner)
    client.force_login(owner)

    body = client.get(reverse("dashboard:run-detail", args=[run.id])).content.decode()

    assert reverse("dashboard:run-stop", args=[run.id]) in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert reverse("dashboard:model-version-detail", args=[run.model_version_id]) in body


def test_after_edges_without_data_are_drawn_as_ordering_edges(client, owner):
    spec = sample.numbers_pipeline.compile(scale=1)
    spec["steps"][1]["after"] = ["load"]
    spec["steps"].append({**spec["steps"][0], "name": "later", "after": ["total"]})
    run = pipeline_run_create(spec=spec, user=owner)
    client.force_login(owner)

    edges = client.get(reverse("dashboard:run-detail", args=[run.id])).context["graph"]["edges"]

    assert {"source": "load", "target": "total", "label": "numbers", "kind": "data"} in edges
    assert {"source": "total", "target": "later", "label": "", "kind": "order"} in edges
    assert len(edges) == 2


def test_the_step_page_shows_attempts_errors_inputs_outputs_metadata_cache_and_log(client, owner, run):
    total = run.steps.get(name="total")
    load = run.steps.get(name="load")
    StepAttempt.objects.filter(step_run=total).update(outcome="failed", error="ValueError: the first try broke")
    StepRun.objects.filter(id=total.id).update(cache_key="k" * 64, cached_from=load, error="ValueError: boom")
    client.force_login(owner)

    response = client.get(reverse("dashboard:step-detail", args=[total.id]))

    body = response.content.decode()
    assert "ValueError: the first try broke" in body
    assert "ValueError: boom" in body
    assert "k" * 64 in body
    assert reverse("dashboard:step-detail", args=[load.id]) in body  # cached from, and the input's producer
    assert reverse("dashboard:artifact-version-detail", args=[total.input_links.get().artifact_version_id]) in body
    assert reverse("dashboard:artifact-version-detail", args=[total.output_links.get().artifact_version_id]) in body
    assert "hello from total" in body
    assert 'data-running="false"' in body
    assert 'data-offset="17"' in body  # len("hello from total\n")


def test_the_step_page_names_the_secrets_the_step_read_and_no_values(client, owner, run):
    load = run.steps.get(name="load")
    for name in ["warehouse", "api-key", "warehouse"]:
        SecretRead.objects.create(secret_name=name, step_run_id=load.id, via="api")
    SecretRead.objects.create(secret_name="someone-elses", step_run_id=run.steps.get(name="total").id, via="api")
    client.force_login(owner)

    response = client.get(reverse("dashboard:step-detail", args=[load.id]))

    assert response.context["secrets_read"] == ["api-key", "warehouse"]
    assert b"someone-elses" not in response.content


def test_the_step_page_shows_only_the_tail_of_a_huge_log(client, owner, run, monkeypatch):
    monkeypatch.setattr("pipelines.selectors.pages.STEP_LOG_TAIL_CHARS", 10)
    load = run.steps.get(name="load")
    StepRun.objects.filter(id=load.id).update(logs="a" * 50 + "0123456789")
    client.force_login(owner)

    response = client.get(reverse("dashboard:step-detail", args=[load.id]))

    assert response.context["step"].log_tail == "0123456789"
    assert b'data-offset="60"' in response.content
    assert b"Showing the last 10 of 60 characters" in response.content


def test_the_home_page_shows_runs_in_progress_failures_counts_and_model_versions(client, owner, run):
    failed = finish(make_run(owner), RunStatus.FAILED)
    spec = sample.numbers_pipeline.compile(scale=1)
    spec["model"] = {"name": "classifier"}
    running = pipeline_run_create(spec=spec, user=owner)
    client.force_login(owner)

    response = client.get(reverse("dashboard:home"))

    assert [r.id for r in response.context["active_runs"]] == [running.id]
    assert [r.id for r in response.context["failed_runs"]] == [failed.id]
    assert response.context["run_total"] == 3
    assert response.context["totals"] == {"pipelines": 1, "artifacts": 2, "models": 1}
    assert ("completed", "Completed", 1) in response.context["status_counts"]
    assert b"classifier" in response.content
    assert b"no worker alive" in response.content


def test_the_pipeline_list_shows_the_last_run_and_the_success_rate(client, owner, run):
    finish(make_run(owner), RunStatus.FAILED)
    latest = make_run(owner)
    client.force_login(owner)

    response = client.get(reverse("dashboard:pipeline-list"))

    [(pipeline, last_run)] = response.context["rows"]
    assert (pipeline.run_count, pipeline.finished_count, pipeline.completed_count) == (3, 2, 1)
    assert pipeline.success_rate == 0.5
    assert last_run.id == latest.id
    assert pipeline.last_run_created_at == latest.created_at
    assert b"50 %" in response.content


def test_the_pipeline_list_filters_by_name_and_sorts_by_success_rate(client, owner, run):
    other = pipeline_run_create(spec=wide_spec(2, pipeline="other"), user=owner)
    finish(other, RunStatus.FAILED)
    client.force_login(owner)

    by_rate = client.get(reverse("dashboard:pipeline-list"), {"sort": "-success"}).context["page_obj"]
    named = client.get(reverse("dashboard:pipeline-list"), {"name": "OTH"}).context["page_obj"]

    assert [p.name for p in by_rate] == ["numbers_pipeline", "other"]
    assert [p.name for p in named] == ["other"]


def test_the_pipeline_page_has_its_runs_a_duration_trend_and_the_latest_dag(client, owner, run):
    latest = make_run(owner)
    pipeline_run_create(spec=wide_spec(2, pipeline="other"), user=owner)
    client.force_login(owner)

    response = client.get(reverse("dashboard:pipeline-detail", args=[run.pipeline_id]))

    assert {r.id for r in response.context["page_obj"]} == {run.id, latest.id}
    [point] = response.context["trend"]
    assert point == {
        "name": run.name,
        "status": "completed",
        "created_at": run.created_at.isoformat(),
        "duration": pytest.approx((run.finished_at - run.started_at).total_seconds()),
        "url": reverse("dashboard:run-detail", args=[run.id]),
    }
    assert response.context["graph"]["id"] == latest.id
    assert b'id="trend-data"' in response.content
    assert b'id="pipeline-graph"' in response.content
    assert b'name="pipeline"' not in response.content  # no pipeline filter on a pipeline's page


# --- filtering and sorting the runs ---------------------------------------------------------
def listed(client, **params) -> list[int]:
    response = client.get(reverse("dashboard:run-list"), params)
    assert response.status_code == 200
    return [r.id for r in response.context["page_obj"].object_list]


def test_the_runs_list_has_a_compare_form_with_a_checkbox_per_run(client, owner, run):
    client.force_login(owner)

    body = client.get(reverse("dashboard:run-list")).content.decode()

    assert f'action="{reverse("dashboard:compare")}"' in body
    assert f'name="run" value="{run.id}"' in body
    assert "Compare selected" in body


def test_the_runs_list_filters_by_pipeline_status_and_name(client, owner, run):
    other = pipeline_run_create(spec=wide_spec(2, pipeline="other"), user=owner)
    client.force_login(owner)

    assert listed(client, pipeline=other.pipeline_id) == [other.id]
    assert listed(client, status="completed") == [run.id]
    assert set(listed(client, status=["completed", "initializing"])) == {run.id, other.id}
    assert listed(client, name="OTHER-") == [other.id]


def test_the_runs_list_filters_by_time_range(client, owner, run):
    old = make_run(owner)
    PipelineRun.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=3))
    client.force_login(owner)
    two_days_ago = (timezone.localtime() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")

    assert listed(client, created_after=two_days_ago) == [run.id]
    assert listed(client, created_before=two_days_ago) == [old.id]


def test_the_runs_list_filters_by_metadata_key_and_value_as_json_or_text(client, owner, run):
    other = make_run(owner)
    RunMetadata.objects.create(key="accuracy", value="0.9", type="str", pipeline_run=other)
    RunMetadata.objects.create(key="model", value="resnet", type="str", pipeline_run=other)
    RunMetadata.objects.create(key="flags", value=[1, 2], type="list", pipeline_run=other)
    client.force_login(owner)

    assert set(listed(client, metadata_key="accuracy")) == {run.id, other.id}
    assert set(listed(client, metadata_key="accuracy", metadata_value="0.9")) == {run.id, other.id}
    assert listed(client, metadata_key="accuracy", metadata_value="0.5") == [run.id]  # any logged value
    assert listed(client, metadata_key="accuracy", metadata_value='"0.9"') == [other.id]
    assert listed(client, metadata_key="model", metadata_value="resnet") == [other.id]
    assert listed(client, metadata_key="flags", metadata_value="[1, 2]") == [other.id]
    assert listed(client, metadata_key="rows") == []  # step metadata is not the run's


def test_an_invalid_filter_lists_every_run_and_says_why(client, owner, run):
    client.force_login(owner)

    response = client.get(reverse("dashboard:run-list"), {"created_after": "yesterday"})

    assert [r.id for r in response.context["page_obj"]] == [run.id]
    assert b"Created after: Enter a valid date/time." in response.content


def test_the_runs_list_sorts_by_name_both_ways_and_keeps_the_filters(client, owner, run):
    other = pipeline_run_create(spec=wide_spec(2, pipeline="another"), user=owner)
    client.force_login(owner)

    assert listed(client, sort="name") == [other.id, run.id]
    assert listed(client, sort="-name") == [run.id, other.id]
    assert listed(client, sort="pipeline") == [other.id, run.id]
    body = client.get(reverse("dashboard:run-list"), {"status": "completed", "sort": "name"}).content.decode()
    assert "?status=completed&amp;sort=-name" in body


def test_the_runs_list_pages(client, owner, run, monkeypatch):
    from dashboard.listing import paginate

    monkeypatch.setitem(paginate.__kwdefaults__, "per_page", 2)
    runs = [make_run(owner) for _ in range(3)]
    client.force_login(owner)

    assert listed(client) == [runs[2].id, runs[1].id]
    assert listed(client, page=2) == [runs[0].id, run.id]


# --- the query count does not grow with the rows ----------------------------------------------
def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("page", ["home", "pipeline-list", "pipeline-detail", "run-list"])
def test_list_pages_make_as_many_queries_for_thirty_runs_as_for_one(client, owner, run, page):
    client.force_login(owner)
    url = pages(run)[page]
    one = count_queries(client, url)
    for index in range(29):
        extra = finish(make_run(owner), RunStatus.FAILED if index % 2 else RunStatus.COMPLETED)
        RunMetadata.objects.create(key="accuracy", value=index, type="int", pipeline_run=extra)
        pipeline_run_create(spec=wide_spec(2, pipeline=f"p{index}"), user=owner)

    assert count_queries(client, url) == one
    assert one == QUERIES[page]


# Session and user, then: home: runs by status, three totals, workers, latest / active /
# failed runs, model versions; pipeline list: count, page, latest runs; pipeline page: pipeline,
# count, page, trend, latest run, its steps; runs list: pipelines (the filter), count,
# page; run page: run, its metadata, steps, outputs; step page: step, attempts,
# metadata, inputs, outputs, secrets read.
QUERIES = {"home": 11, "pipeline-list": 5, "pipeline-detail": 8, "run-list": 5, "run-detail": 6, "step-detail": 8}


def test_the_run_page_makes_as_many_queries_for_thirty_steps_as_for_two(client, owner, run):
    client.force_login(owner)
    two = count_queries(client, reverse("dashboard:run-detail", args=[run.id]))
    big = pipeline_run_create(spec=wide_spec(30), user=owner)
    for step in big.steps.all():
        add_output(step, "numbers", f"numbers-{step.name}")
    RunMetadata.objects.bulk_create(
        [RunMetadata(key=f"k{i}", value=i, type="int", pipeline_run=big) for i in range(30)]
    )

    assert count_queries(client, reverse("dashboard:run-detail", args=[big.id])) == two
    assert two == QUERIES["run-detail"]


def test_the_filtered_runs_list_makes_a_fixed_number_of_queries(client, owner, run):
    client.force_login(owner)
    url = reverse("dashboard:run-list") + "?metadata_key=accuracy&metadata_value=0.9&status=completed&name=n"
    one = count_queries(client, url)
    for _ in range(10):
        RunMetadata.objects.create(key="accuracy", value=0.9, type="float", pipeline_run=finish(make_run(owner)))

    assert count_queries(client, url) == one


def test_the_step_page_makes_as_many_queries_with_many_links_as_with_one(client, owner, run):
    client.force_login(owner)
    total = run.steps.get(name="total")
    url = reverse("dashboard:step-detail", args=[total.id])
    one = count_queries(client, url)
    load = run.steps.get(name="load")
    for index in range(10):
        version = add_output(load, f"extra{index}", f"extra{index}")
        StepRunInput.objects.create(step_run=total, name=f"in{index}", artifact_version=version)
        add_output(total, f"out{index}", f"out{index}")
        RunMetadata.objects.create(key=f"k{index}", value=index, type="int", step_run=total)
        StepAttempt.objects.create(step_run=total, number=index + 2, started_at=timezone.now(), error="x")

    assert count_queries(client, url) == one
    assert one == QUERIES["step-detail"]


# --- live state, stopping and re-running ------------------------------------------------------
def test_the_live_endpoint_gives_run_status_revision_and_each_steps_phases(client, teammate, owner):
    run = make_run(owner)
    client.force_login(teammate)

    data = client.get(reverse("dashboard:run-live", args=[run.id])).json()

    assert set(data) == {"id", "status", "label", "finished", "revision", "now", "steps"}
    assert (data["id"], data["status"], data["label"], data["finished"]) == (
        run.id,
        "initializing",
        "Initializing",
        False,
    )
    load, total = data["steps"]
    assert set(load) == {
        "id", "name", "status", "label", "attempt", "url",
        "queued_at", "started_at", "user_code_started_at", "user_code_finished_at", "finished_at",
    }  # fmt: skip
    assert (load["name"], load["status"], load["label"]) == ("load", "queued", "Queued")
    assert load["queued_at"] is not None
    assert (total["status"], total["queued_at"]) == ("pending", None)


def test_the_live_endpoint_says_when_the_run_finished(client, owner, run):
    client.force_login(owner)

    data = client.get(reverse("dashboard:run-live", args=[run.id])).json()

    assert data["finished"] is True
    assert [s["status"] for s in data["steps"]] == ["completed", "completed"]
    assert data["steps"][1]["finished_at"] is not None


def test_the_live_endpoint_makes_two_queries_after_the_session(client, owner, django_assert_max_num_queries):
    run = pipeline_run_create(spec=wide_spec(30), user=owner)
    client.force_login(owner)
    client.get(reverse("dashboard:run-live", args=[run.id]))

    with django_assert_max_num_queries(4):  # session, user, run, steps
        client.get(reverse("dashboard:run-live", args=[run.id]))


@pytest.mark.parametrize("name", ["run-stop", "run-rerun"])
def test_stop_and_rerun_refuse_get(client, owner, run, name):
    client.force_login(owner)

    assert client.get(reverse(f"dashboard:{name}", args=[run.id])).status_code == 405
    assert PipelineRun.objects.count() == 1


def test_stopping_a_running_run_stops_its_steps_and_says_so(client, owner):
    run = make_run(owner)
    client.force_login(owner)

    response = client.post(reverse("dashboard:run-stop", args=[run.id]), follow=True)

    run.refresh_from_db()
    assert run.status in (RunStatus.STOPPING, RunStatus.STOPPED)
    assert set(run.steps.values_list("status", flat=True)) == {StepStatus.STOPPED}
    assert response.redirect_chain == [(reverse("dashboard:run-detail", args=[run.id]), 302)]
    assert b"steps that had not started will not run" in response.content


def test_stopping_a_finished_run_changes_nothing(client, owner, run):
    client.force_login(owner)

    response = client.post(reverse("dashboard:run-stop", args=[run.id]), follow=True)

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert b"had already finished" in response.content


def test_rerun_starts_a_new_run_of_the_same_spec_by_the_current_user(client, teammate, run):
    # Re-running someone else's run needs the permission (see tests/unit/pipelines/test_access.py).
    teammate.user_permissions.add(Permission.objects.get(codename="change_pipelinerun"))
    client.force_login(teammate)

    response = client.post(reverse("dashboard:run-rerun", args=[run.id]))

    new = PipelineRun.objects.exclude(id=run.id).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:run-detail", args=[new.id])
    assert new.spec == run.spec
    assert new.name != run.name
    assert new.triggered_by == teammate
    assert list(new.steps.values_list("name", flat=True)) == ["load", "total"]
    follow = client.get(response["Location"])
    assert f"a re-run of {run.name}".encode() in follow.content


def test_rerun_of_a_spec_with_a_fixed_run_name_gets_a_fresh_name(client, owner):
    spec = sample.numbers_pipeline.compile(scale=1)
    spec["run_name_template"] = "nightly"
    run = pipeline_run_create(spec=spec, user=owner)
    client.force_login(owner)

    client.post(reverse("dashboard:run-rerun", args=[run.id]))

    assert sorted(PipelineRun.objects.values_list("name", flat=True)) == ["nightly", "nightly_2"]


def test_the_stop_and_rerun_forms_are_csrf_protected(owner, run):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)

    assert strict.post(reverse("dashboard:run-rerun", args=[run.id])).status_code == 403
    assert strict.post(reverse("dashboard:run-stop", args=[run.id])).status_code == 403


# --- the log tail ------------------------------------------------------------------------------
def test_the_log_endpoint_returns_what_was_written_since_the_offset(client, owner):
    run = make_run(owner)
    load = run.steps.get(name="load")
    StepRun.objects.filter(id=load.id).update(status=StepStatus.RUNNING, logs="first line\n")
    client.force_login(owner)
    url = reverse("dashboard:step-log", args=[load.id])

    first = client.get(url, {"offset": 0}).json()
    StepRun.objects.filter(id=load.id).update(logs="first line\nsecond line\n")
    second = client.get(url, {"offset": first["offset"]}).json()
    StepRun.objects.filter(id=load.id).update(status=StepStatus.COMPLETED)
    last = client.get(url, {"offset": second["offset"]}).json()

    assert first == {"text": "first line\n", "offset": 11, "running": True, "status": "running", "reset": False}
    assert (second["text"], second["offset"], second["running"]) == ("second line\n", 23, True)
    assert (last["text"], last["offset"], last["running"], last["status"]) == ("", 23, False, "completed")


def test_the_log_endpoint_starts_over_when_the_log_got_shorter(client, owner):
    run = make_run(owner)
    load = run.steps.get(name="load")
    StepRun.objects.filter(id=load.id).update(logs="short")
    client.force_login(owner)

    data = client.get(reverse("dashboard:step-log", args=[load.id]), {"offset": 100}).json()

    assert (data["text"], data["offset"], data["reset"]) == ("short", 5, True)


def test_the_log_endpoint_counts_characters_not_bytes_and_ignores_a_bad_offset(client, owner):
    run = make_run(owner)
    load = run.steps.get(name="load")
    StepRun.objects.filter(id=load.id).update(logs="héllo ✓\nnext")
    client.force_login(owner)
    url = reverse("dashboard:step-log", args=[load.id])

    assert client.get(url, {"offset": 8}).json()["text"] == "next"
    assert client.get(url, {"offset": "x"}).json()["text"] == "héllo ✓\nnext"


# --- nothing a user wrote runs as script ----------------------------------------------------------
@pytest.mark.parametrize("payload", [SCRIPT, IMG])
def test_user_text_is_escaped_on_every_page(client, owner, run, payload):
    load = run.steps.get(name="load")
    PipelineRun.objects.filter(id=run.id).update(name=f"run {payload}", parameters={"p": payload})
    run.pipeline.__class__.objects.filter(id=run.pipeline_id).update(name=f"pipe {payload}")
    StepRun.objects.filter(id=load.id).update(
        name=f"step {payload}", logs=f"log {payload}", error=f"error {payload}", parameters={"p": payload}
    )
    StepAttempt.objects.filter(step_run=load).update(error=f"attempt {payload}")
    Artifact.objects.filter(versions__producer_step_run=load).update(name=f"artifact {payload}")
    RunMetadata.objects.create(key=f"key {payload}", value=payload, type="str", pipeline_run=run)
    RunMetadata.objects.create(key=f"key {payload}", value=payload, type="str", step_run=load)
    SecretRead.objects.create(secret_name=f"secret {payload}", step_run_id=load.id, via="api")
    client.force_login(owner)
    urls = [*pages(run).values(), reverse("dashboard:step-detail", args=[load.id])]
    urls.append(reverse("dashboard:run-list") + "?" + "name=" + payload.replace("&", "%26").replace("#", "%23"))

    for url in urls:
        response = client.get(url)
        body = response.content.decode()
        assert response.status_code == 200, url
        assert payload not in body, url
        assert "<img src=x" not in body, url
        assert "<script>alert" not in body, url
    step_page = client.get(reverse("dashboard:step-detail", args=[load.id])).content.decode()
    for escaped in [
        f"step {payload}",
        f"log {payload}",
        f"error {payload}",
        f"attempt {payload}",
        f"secret {payload}",
        f"key {payload}",
    ]:
        assert escape(escaped) in step_page
    run_page = client.get(reverse("dashboard:run-detail", args=[run.id])).content.decode()
    for escaped in [f"run {payload}", f"pipe {payload}", f"artifact {payload}", f"key {payload}"]:
        assert escape(escaped) in run_page
    live = client.get(reverse("dashboard:run-live", args=[run.id]))
    assert live["Content-Type"] == "application/json"
    assert json.loads(live.content)["steps"][0]["name"] == f"step {payload}"
