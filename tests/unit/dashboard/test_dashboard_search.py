"""Global search: names containing the query, grouped by kind, each a link, capped
per group with a "see all" link; odd queries get a clear page, never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipelines.models import Artifact, MLModel, Pipeline
from pipelines.selectors.search import SEARCH_GROUP_LIMIT, SEARCH_MAX_CHARS, search_names
from tests.unit.dashboard_data import XSS, make_model_version, make_run

pytestmark = pytest.mark.django_db


def _search(client, q):
    return client.get(reverse("dashboard:search"), {"q": q})


@pytest.fixture
def named(owner):
    run = make_run(owner, name="Churn-nightly-7", pipeline="churn_training")
    make_run(owner, name="fraud-nightly-1", pipeline="fraud_training")
    artifact = Artifact.objects.create(name="churn_features")
    version = make_model_version(owner, model="churn-model", version="churn-candidate")
    return {"run": run, "artifact": artifact, "version": version}


def test_each_kind_whose_name_contains_the_query_is_listed_with_a_link(client, teammate, named):
    client.force_login(teammate)

    response = _search(client, "CHURN")

    html = response.content.decode()
    assert response.status_code == 200
    kinds = {group["kind"]: [row["name"] for row in group["rows"]] for group in response.context["groups"]}
    assert kinds == {
        "pipelines": ["churn_training"],
        "runs": ["Churn-nightly-7"],
        "artifacts": ["churn_features"],
        "models": ["churn-model"],
        "model_versions": ["churn-candidate"],
    }
    assert reverse("dashboard:run-detail", args=[named["run"].id]) in html
    assert reverse("dashboard:pipeline-detail", args=[named["run"].pipeline_id]) in html
    assert reverse("dashboard:artifact-detail", args=[named["artifact"].id]) in html
    assert reverse("dashboard:model-detail", args=[named["version"].model_id]) in html
    assert reverse("dashboard:model-version-detail", args=[named["version"].id]) in html
    assert "fraud" not in html.split('id="search-summary"', 1)[1]


def test_a_group_is_capped_and_links_to_its_list_page_filtered_by_the_query(client, owner):
    for n in range(SEARCH_GROUP_LIMIT + 2):
        Pipeline.objects.create(name=f"etl_{n:02d}")
    client.force_login(owner)

    response = _search(client, "etl")

    (pipelines,) = [group for group in response.context["groups"] if group["kind"] == "pipelines"]
    assert len(pipelines["rows"]) == SEARCH_GROUP_LIMIT
    assert pipelines["more"] is True
    assert pipelines["rows"][0]["name"] == f"etl_{SEARCH_GROUP_LIMIT + 1:02d}"  # newest first
    see_all = reverse("dashboard:pipeline-list") + "?name=etl"
    assert f'href="{see_all}"' in response.content.decode()
    # The "see all" page lists every one of them.
    listing = client.get(see_all).content.decode()
    assert all(f"etl_{n:02d}" in listing for n in range(SEARCH_GROUP_LIMIT + 2))


def test_see_all_links_of_every_list_page_filter_by_name(client, owner):
    for n in range(SEARCH_GROUP_LIMIT + 1):
        make_run(owner, name=f"x-run-{n}", pipeline=f"x-pipe-{n}")
        Artifact.objects.create(name=f"x-art-{n}")
        MLModel.objects.create(name=f"x-model-{n}")
    client.force_login(owner)

    html = _search(client, "x-").content.decode()

    for url_name in ("run-list", "pipeline-list", "artifact-list", "model-list"):
        assert f'href="{reverse(f"dashboard:{url_name}")}?name=x-"' in html


def test_no_match_says_so(client, owner, named):
    client.force_login(owner)

    response = _search(client, "zzz-nothing")

    assert response.status_code == 200
    assert "has a name containing “zzz-nothing”" in response.content.decode()


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
def test_an_empty_query_shows_the_box_and_a_hint(client, owner, named, query):
    client.force_login(owner)

    response = _search(client, query)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="search-hint"' in html
    assert response.context["groups"] == []


def test_a_query_too_long_is_a_400_that_says_the_limit(client, owner):
    client.force_login(owner)

    response = _search(client, "a" * 100_000)

    html = response.content.decode()
    assert response.status_code == 400
    assert f"q: The search text is 100000 characters long; names are searched with at most {SEARCH_MAX_CHARS}" in html
    assert "a" * 1000 not in html


@pytest.mark.parametrize("query", ["a\x00b", "\x00"])
def test_a_nul_character_is_a_400_that_says_to_remove_it(client, owner, named, query):
    client.force_login(owner)

    response = _search(client, query)

    assert response.status_code == 400
    assert "NUL character" in response.content.decode()


@pytest.mark.parametrize("query", ["%", "_", "\\", "'; DROP TABLE x; --", "名前", "🚀"])
def test_wildcards_and_odd_characters_are_searched_literally(client, owner, query):
    Pipeline.objects.create(name="plain")
    Pipeline.objects.create(name=f"has{query}inside")
    client.force_login(owner)

    response = _search(client, query)

    assert response.status_code == 200
    found = [row["name"] for group in response.context["groups"] for row in group["rows"]]
    assert found == [f"has{query}inside"]


def test_a_repeated_parameter_or_a_missing_one_is_fine(client, owner):
    client.force_login(owner)

    assert client.get(reverse("dashboard:search")).status_code == 200
    assert client.get(reverse("dashboard:search") + "?q=a&q=b").status_code == 200


@pytest.mark.parametrize("payload", XSS)
def test_names_and_the_query_are_escaped(client, owner, payload):
    make_run(owner, name=f"run {payload}")
    client.force_login(owner)

    html = _search(client, payload).content.decode()

    assert payload not in html
    assert "run &lt;" in html or "run &quot;&gt;" in html


def test_an_inactive_user_finds_nothing_and_a_visitor_is_sent_to_log_in(client, django_user_model, named):
    inactive = django_user_model.objects.create_user("gone", is_active=False)
    assert all(not group.rows for group in search_names(inactive, query="churn"))

    response = _search(client, "churn")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_search_costs_one_query_per_group(owner, named, django_assert_num_queries):
    with django_assert_num_queries(5):
        search_names(owner, query="churn")


def test_every_page_has_the_search_box_in_its_header(client, owner):
    client.force_login(owner)

    html = client.get(reverse("dashboard:run-list")).content.decode()

    header = html.split("</header>", 1)[0]
    assert f'action="{reverse("dashboard:search")}"' in header
    assert 'name="q"' in header
    assert 'aria-keyshortcuts="/"' in header
