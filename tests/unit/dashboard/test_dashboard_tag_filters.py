"""The `?tag=` box of the artifact and model lists, and a pipeline's tags on its page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipelines.models import Artifact, MLModel, Pipeline
from tests.unit.dashboard_data import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, teammate):
    client.force_login(teammate)
    return client


def names(response, key: str = "page_obj") -> list[str]:
    return [row.name for row in response.context[key]]


def test_the_artifact_list_filters_by_one_exact_tag(signed_in):
    Artifact.objects.create(name="features", tags=["prod", "daily"])
    Artifact.objects.create(name="report", tags=["production"])
    Artifact.objects.create(name="plot", tags=[])
    url = reverse("dashboard:artifact-list")

    response = signed_in.get(url, {"tag": "prod"})

    assert response.status_code == 200
    assert names(response) == ["features"]
    html = response.content.decode()
    assert 'name="tag" value="prod"' in html
    assert names(signed_in.get(url, {"tag": "daily", "name": "feat"})) == ["features"]
    assert names(signed_in.get(url, {"tag": "daily", "name": "rep"})) == []
    assert (
        "No artifact whose name contains “rep” has the tag “daily”."
        in signed_in.get(url, {"tag": "daily", "name": "rep"}).content.decode()
    )
    assert names(signed_in.get(url)) == ["features", "plot", "report"]


def test_the_model_list_filters_by_one_exact_tag(signed_in):
    MLModel.objects.create(name="churn", tags=["one", "two"])
    MLModel.objects.create(name="fraud", tags=["two"])
    url = reverse("dashboard:model-list")

    assert names(signed_in.get(url, {"tag": "one"})) == ["churn"]
    assert names(signed_in.get(url, {"tag": "two"})) == ["churn", "fraud"]
    empty = signed_in.get(url, {"tag": "three"})
    assert names(empty) == []
    assert "No model has the tag “three”." in empty.content.decode()


@pytest.mark.parametrize("url", ["dashboard:model-list", "dashboard:artifact-list"])
def test_a_tag_that_cannot_be_one_filters_nothing_and_says_why(signed_in, url):
    MLModel.objects.create(name="churn", tags=["one"])
    Artifact.objects.create(name="churn", tags=["one"])

    response = signed_in.get(reverse(url), {"tag": "x" * 101})

    assert response.status_code == 200
    assert names(response) == ["churn"]
    assert 'role="alert">Tag: Ensure this value has at most 100 characters' in response.content.decode()
    # A NUL character is refused before any view, as on every page.
    assert signed_in.get(reverse(url), {"tag": "a\x00b"}).status_code == 400


def test_the_pipeline_page_shows_its_tags(signed_in, owner):
    run = make_run(owner, pipeline="training")
    Pipeline.objects.filter(id=run.pipeline_id).update(tags=["prod", "<b>team</b>"])

    html = signed_in.get(reverse("dashboard:pipeline-detail", args=[run.pipeline_id])).content.decode()

    tags = html.split('<dd id="pipeline-tags">', 1)[1].split("</dd>", 1)[0]
    assert '<span class="tag">prod</span>' in tags
    assert "&lt;b&gt;team&lt;/b&gt;" in tags  # escaped


def test_a_pipeline_without_tags_shows_a_dash(signed_in, owner):
    run = make_run(owner, pipeline="training")

    html = signed_in.get(reverse("dashboard:pipeline-detail", args=[run.pipeline_id])).content.decode()

    assert '<dd id="pipeline-tags">—</dd>' in html
