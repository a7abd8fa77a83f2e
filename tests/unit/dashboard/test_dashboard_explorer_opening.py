"""The metadata explorer opens on something it can plot, or says why there is no chart."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.unit.dashboard_data import log, make_model_version, make_run, make_step, use_fresh_store

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


def _explorer(client, **params):
    return client.get(reverse("dashboard:metadata-explorer"), params)


def test_it_opens_on_the_most_recently_logged_numeric_key_and_its_target(client, owner):
    run = make_run(owner)
    log("pipeline_run", run.id, accuracy=0.9)
    log("step_run", make_step(run).id, loss=0.25)  # newest: a step's loss
    client.force_login(owner)

    response = _explorer(client)

    html = response.content.decode()
    assert (response.context["key"], response.context["target"]) == ("loss", "step_run")
    assert 'data-chart="explorer"' in html
    assert "chart-4.6.1.umd.min.js" in html
    assert [point["y"] for point in response.context["latest"]] == [0.25]


def test_it_skips_a_newest_key_whose_only_value_is_not_numeric_on_its_target(client, owner):
    run = make_run(owner)
    log("model_version", make_model_version(owner).id, f1=0.5)
    log("pipeline_run", run.id, note="text", flag=True)  # newer, but nothing to plot
    client.force_login(owner)

    response = _explorer(client)

    assert (response.context["key"], response.context["target"]) == ("f1", "model_version")
    assert response.context["points_url"].endswith("key=f1&target=model_version")


def test_a_key_alone_opens_on_the_first_target_it_was_logged_on(client, owner):
    log("model_version", make_model_version(owner).id, f1=0.5)
    client.force_login(owner)

    response = _explorer(client, key="f1")

    assert response.context["target"] == "model_version"
    assert response.context["latest"]


def test_a_key_and_target_without_points_draw_no_chart_and_say_where_the_key_is(client, owner):
    version = make_model_version(owner)
    log("model_version", version.id, f1=0.5)
    log("pipeline_run", make_run(owner).id, accuracy=0.9)
    client.force_login(owner)

    response = _explorer(client, key="f1", target="run")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<canvas" not in html
    assert "chart-4.6.1.umd.min.js" not in html
    assert response.context["points_url"] == ""
    assert "No runs have a numeric <code>f1</code>, so there is no chart." in html
    explorer_there = reverse("dashboard:metadata-explorer") + "?key=f1&amp;target=model_version"
    assert f'<a href="{explorer_there}">model versions</a>' in html


def test_with_no_numeric_metadata_at_all_there_is_no_chart_and_a_sentence_saying_what_to_do(client, owner):
    log("pipeline_run", make_run(owner).id, note="text only")
    client.force_login(owner)

    response = _explorer(client)

    html = response.content.decode()
    assert response.context["keys"] == []
    assert "<canvas" not in html
    assert "No numeric metadata yet, so there is nothing to plot." in html
    assert "log_metadata(" in html


def test_an_unknown_key_falls_back_to_what_has_points(client, owner):
    log("pipeline_run", make_run(owner).id, accuracy=0.9)
    client.force_login(owner)

    response = _explorer(client, key="no-such-key", target="model_version")

    assert (response.context["key"], response.context["target"]) == ("accuracy", "run")
    assert response.context["latest"]


@pytest.mark.parametrize("key", ["k" * 5000, "ключ", "%", "a b"])
def test_a_key_that_was_never_logged_opens_on_one_with_points_and_its_points_are_empty(client, owner, key):
    log("pipeline_run", make_run(owner).id, accuracy=0.9)
    client.force_login(owner)

    page = _explorer(client, key=key, target="run")
    points = client.get(reverse("dashboard:metadata-points"), {"key": key, "target": "run"})

    assert page.status_code == 200
    assert page.context["key"] == "accuracy"
    assert points.status_code == 200
    assert points.json()["points"] == []
