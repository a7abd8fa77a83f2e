"""Comparing runs side by side, and the metadata explorer."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.unit.dashboard_data import (
    XSS,
    log,
    make_model_version,
    make_run,
    make_step,
    save_value,
    use_fresh_store,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


def _compare(client, runs, **params):
    return client.get(reverse("dashboard:compare"), {"run": [run.id for run in runs], **params})


def _pair(owner):
    """Two runs: same `epochs`, different `lr`; one output equal, one changed."""
    runs = []
    for n, lr in enumerate((0.1, 0.2)):
        run = make_run(owner, name=f"run-{n}", parameters={"epochs": 3, "lr": lr})
        load = make_step(run, name="load")
        train = make_step(run, name="train", seconds=1 + n)
        save_value("dataset", [1, 2, 3], step=load, output="rows")
        save_value("report", f"loss was {lr}", step=train, output="summary")
        log("pipeline_run", run.id, accuracy=0.9 + n / 100, seed=7)
        runs.append(run)
    return runs


def test_anonymous_visitors_are_sent_to_log_in(client):
    for name in ("compare", "metadata-explorer", "metadata-points"):
        response = client.get(reverse(f"dashboard:{name}"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("user", ["owner", "teammate"])
def test_two_runs_are_compared_in_columns(client, owner, user, request):
    runs = _pair(owner)
    client.force_login(request.getfixturevalue(user))

    response = _compare(client, runs)

    html = response.content.decode()
    assert response.status_code == 200
    assert [run.id for run in response.context["runs"]] == [run.id for run in runs]
    sections = {section.title: section for section in response.context["sections"]}
    parameters = {row.label: row for row in sections["Parameters"].rows}
    assert parameters["epochs"].same
    assert not parameters["lr"].same
    outputs = {row.label: row for row in sections["Outputs (checksums)"].rows}
    assert outputs["load → rows"].same
    assert not outputs["train → summary"].same
    # Changed outputs get small previews side by side; equal ones do not.
    assert [cell.preview.text for cell in outputs["train → summary"].cells] == ["loss was 0.1", "loss was 0.2"]
    assert all(cell.preview is None for cell in outputs["load → rows"].cells)
    assert "≠</span> changed" in html
    assert "=</span> equal" in html
    assert {row.label for row in sections["Run metadata"].rows} == {"accuracy", "seed"}
    assert {row.label for row in sections["Step durations"].rows} == {"load", "train"}


def test_differences_only_hides_equal_rows(client, owner):
    runs = _pair(owner)
    client.force_login(owner)

    response = _compare(client, runs, diff="1")

    sections = {section.title: section for section in response.context["sections"]}
    assert [row.label for row in sections["Parameters"].rows] == ["lr"]
    assert [row.label for row in sections["Run metadata"].rows] == ["accuracy"]
    assert [row.label for row in sections["Outputs (checksums)"].rows] == ["train → summary"]
    assert sections["Parameters"].hidden == 1
    assert b'name="diff" value="1" checked' in response.content


def test_an_output_missing_from_one_run_counts_as_changed(client, owner):
    runs = _pair(owner)
    extra = make_step(runs[1], name="extra")
    save_value("bonus", 1, step=extra, output="out")
    client.force_login(owner)

    response = _compare(client, runs, diff="1")

    outputs = {row.label: row for row in response.context["sections"][2].rows}
    assert [cell.present for cell in outputs["extra → out"].cells] == [False, True]


@pytest.mark.parametrize("count", [0, 1, 11])
def test_too_few_or_too_many_runs_give_a_clear_message_not_an_error(client, owner, count):
    runs = [make_run(owner, name=f"r{n}") for n in range(count)]
    client.force_login(owner)

    response = _compare(client, runs)

    assert response.status_code == 200
    text = response.content.decode()
    assert ("at most 10 runs" in text) if count > 10 else ("between 2 and 10 runs" in text)
    assert response.context["runs"] == []


def test_unknown_and_malformed_run_ids_are_reported(client, owner):
    runs = _pair(owner)
    client.force_login(owner)

    response = client.get(reverse("dashboard:compare"), {"run": [runs[0].id, runs[1].id, 999, "abc"]})

    text = response.content.decode()
    assert "No run with id 999" in text
    assert "“abc” is not a run id" in text
    assert len(response.context["runs"]) == 2


def test_comparing_costs_the_same_queries_for_2_or_10_runs(client, owner):
    runs = _pair(owner)
    client.force_login(owner)
    with CaptureQueriesContext(connection) as two:
        assert _compare(client, runs).status_code == 200
    for n in range(2, 10):
        run = make_run(owner, name=f"more-{n}", parameters={"lr": n})
        save_value("report", f"loss {n}", step=make_step(run, name="train"), output="summary")
        make_step(run, name="load")
        log("pipeline_run", run.id, accuracy=n / 10)
        runs.append(run)
    with CaptureQueriesContext(connection) as ten:
        assert _compare(client, runs).status_code == 200

    assert len(ten.captured_queries) == len(two.captured_queries)


@pytest.mark.parametrize("payload", XSS)
def test_compared_names_parameters_and_metadata_are_escaped(client, owner, payload):
    runs = [make_run(owner, name=f"{payload}{n}", parameters={payload: payload}) for n in range(2)]
    for run in runs:
        log("pipeline_run", run.id, **{payload: f"{payload}{run.id}"})
        save_value("out", f"{payload}{run.id}", step=make_step(run, name=payload), output=payload)
    client.force_login(owner)

    response = _compare(client, runs)

    assert response.status_code == 200
    assert payload.encode() not in response.content


# --- the metadata explorer ---------------------------------------------------------


@pytest.fixture
def accuracy_runs(owner):
    runs = []
    for n in range(3):
        run = make_run(owner, name=f"train-{n}")
        log("pipeline_run", run.id, accuracy=0.5 + n / 10, note="not numeric")
        runs.append(run)
    log("pipeline_run", runs[0].id, accuracy=0.99)  # a later write is the run's value
    return runs


@pytest.mark.parametrize("user", ["owner", "teammate"])
def test_the_explorer_offers_numeric_keys_and_lists_the_latest_points(client, accuracy_runs, user, request):
    client.force_login(request.getfixturevalue(user))

    response = client.get(reverse("dashboard:metadata-explorer"))

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["keys"] == ["accuracy"]
    assert response.context["key"] == "accuracy"
    assert 'data-chart="explorer"' in html
    assert "chart-4.6.1.umd.min.js" in html
    assert "2000" in html
    assert reverse("dashboard:run-detail", args=[accuracy_runs[0].id]) in html
    assert [point["y"] for point in response.context["latest"]] == [0.99, 0.7, 0.6]


def test_metadata_points_are_json_one_per_run_oldest_first_with_links(client, owner, accuracy_runs):
    client.force_login(owner)

    response = client.get(reverse("dashboard:metadata-points"), {"key": "accuracy", "target": "run"})

    data = response.json()
    assert data["limit"] == 2000
    assert [(p["label"], p["y"]) for p in data["points"]] == [
        ("train-1", 0.6),
        ("train-2", 0.7),
        ("train-0", 0.99),
    ]
    assert data["points"][0]["url"] == reverse("dashboard:run-detail", args=[accuracy_runs[1].id])
    assert set(data["points"][0]) == {"x", "y", "label", "url"}
    assert "T" in data["points"][0]["x"]


def test_metadata_points_for_model_versions_link_to_the_version(client, owner):
    version = make_model_version(owner)
    log("model_version", version.id, accuracy=0.8)
    client.force_login(owner)

    data = client.get(reverse("dashboard:metadata-points"), {"key": "accuracy", "target": "model_version"}).json()

    assert data["points"] == [
        {
            "x": data["points"][0]["x"],
            "y": 0.8,
            "label": "classifier version 1",
            "url": reverse("dashboard:model-version-detail", args=[version.id]),
        }
    ]


def test_metadata_points_for_step_runs_and_artifact_versions(client, owner):
    step = make_step(make_run(owner))
    log("step_run", step.id, loss=0.25)
    saved = save_value("data", 1)
    log("artifact_version", saved.id, loss=0.5)
    client.force_login(owner)

    steps = client.get(reverse("dashboard:metadata-points"), {"key": "loss", "target": "step_run"}).json()
    versions = client.get(reverse("dashboard:metadata-points"), {"key": "loss", "target": "artifact_version"}).json()

    assert steps["points"][0]["url"] == reverse("dashboard:step-detail", args=[step.id])
    assert versions["points"][0]["url"] == reverse("dashboard:artifact-version-detail", args=[saved.id])


def test_metadata_points_without_a_key_or_with_an_unknown_target_are_a_400(client, owner):
    client.force_login(owner)

    assert client.get(reverse("dashboard:metadata-points"), {"target": "run"}).status_code == 400
    assert client.get(reverse("dashboard:metadata-points"), {"key": "a", "target": "x"}).status_code == 400


def test_the_points_are_capped(client, owner, monkeypatch):
    monkeypatch.setattr("dashboard.views.explorer.MAX_POINTS", 2)
    for n in range(4):
        log("pipeline_run", make_run(owner, name=f"r{n}").id, accuracy=n)
    client.force_login(owner)

    data = client.get(reverse("dashboard:metadata-points"), {"key": "accuracy", "target": "run"}).json()

    assert [p["label"] for p in data["points"]] == ["r2", "r3"]


def test_the_explorer_and_points_cost_the_same_queries_for_few_or_many_points(client, owner):
    log("pipeline_run", make_run(owner, name="r0").id, accuracy=0.1)
    client.force_login(owner)

    def count(url_name):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse(f"dashboard:{url_name}"), {"key": "accuracy", "target": "run"})
        assert response.status_code == 200
        return len(captured.captured_queries)

    few = (count("metadata-explorer"), count("metadata-points"))
    for n in range(1, 30):
        log("pipeline_run", make_run(owner, name=f"r{n}").id, accuracy=n / 30, **{f"k{n}": n})

    assert (count("metadata-explorer"), count("metadata-points")) == few


@pytest.mark.parametrize("payload", XSS)
def test_explorer_keys_and_labels_are_escaped(client, owner, payload):
    log("pipeline_run", make_run(owner, name=payload).id, **{payload: 1.0})
    client.force_login(owner)

    page = client.get(reverse("dashboard:metadata-explorer"), {"key": payload})
    points = client.get(reverse("dashboard:metadata-points"), {"key": payload, "target": "run"})

    assert page.context["key"] == payload
    assert payload.encode() not in page.content
    assert points["Content-Type"] == "application/json"
    assert points.json()["points"][0]["label"] == payload


def test_the_explorer_offers_only_keys_with_numeric_values_in_name_order(client, owner):
    run = make_run(owner)
    log("pipeline_run", run.id, zeta=1, beta="text", alpha=0.5, flag=True, gamma=[1, 2])
    log("step_run", make_step(run).id, delta=3)
    log("pipeline_run", run.id, beta=2)  # a key with a numeric value anywhere counts
    client.force_login(owner)

    response = client.get(reverse("dashboard:metadata-explorer"))

    assert response.context["keys"] == ["alpha", "beta", "delta", "zeta"]
