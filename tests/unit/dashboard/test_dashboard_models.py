"""The model pages: list, model with its versions, version page and stage changes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pipelines.models import PipelineRun
from pipelines.services.model_versions import model_version_set_stage
from tests.unit.dashboard_data import (
    XSS,
    link,
    log,
    make_model_version,
    make_run,
    save_value,
    use_fresh_store,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


@pytest.fixture
def releaser(django_user_model):
    user = django_user_model.objects.create_user("releaser", "releaser@example.com", "pw-releaser-123")
    user.user_permissions.add(Permission.objects.get(codename="change_modelversion"))
    return user


def _get(client, url_name, *args, **params):
    return client.get(reverse(f"dashboard:{url_name}", args=args), params)


def _queries(client, url_name, *args, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = _get(client, url_name, *args, **params)
    assert response.status_code == 200
    return len(captured.captured_queries)


def _stage(client, version, stage, *, force=False):
    data = {"stage": stage, **({"force": "on"} if force else {})}
    return client.post(reverse("dashboard:model-version-stage", args=[version.id]), data)


@pytest.mark.parametrize("url_name", ["model-list", "model-detail", "model-version-detail"])
def test_anonymous_visitors_are_sent_to_log_in(client, owner, url_name):
    version = make_model_version(owner)
    args = {"model-list": [], "model-detail": [version.model_id], "model-version-detail": [version.id]}[url_name]

    response = client.get(reverse(f"dashboard:{url_name}", args=args))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("user", ["owner", "teammate"])
def test_every_user_sees_every_model_one_team_per_installation(client, owner, user, request):
    version = make_model_version(owner)
    client.force_login(request.getfixturevalue(user))

    assert b"classifier" in _get(client, "model-list").content
    assert _get(client, "model-detail", version.model_id).status_code == 200
    assert _get(client, "model-version-detail", version.id).status_code == 200


def test_the_list_filters_sorts_and_counts_versions(client, owner):
    make_model_version(owner, model="alpha")
    for _ in range(3):
        latest = make_model_version(owner, model="beta")
    client.force_login(owner)

    filtered = _get(client, "model-list", name="BET")
    by_versions = _get(client, "model-list", sort="-versions")

    assert [m.name for m in filtered.context["page_obj"]] == ["beta"]
    assert [m.name for m in by_versions.context["page_obj"]] == ["beta", "alpha"]
    assert by_versions.context["page_obj"][0].version_count == 3
    assert reverse("dashboard:model-version-detail", args=[latest.id]).encode() in by_versions.content


def test_the_list_costs_the_same_queries_for_one_model_or_many(client, owner):
    make_model_version(owner, model="m0")
    client.force_login(owner)
    few = _queries(client, "model-list")
    for n in range(1, 8):
        make_model_version(owner, model=f"m{n}")

    assert _queries(client, "model-list") == few


def test_the_model_page_lists_versions_with_stages_filtered_and_sorted(client, owner):
    first = make_model_version(owner)
    second = make_model_version(owner)
    model_version_set_stage(version=second, stage="production")
    client.force_login(owner)

    response = _get(client, "model-detail", first.model_id)
    production = _get(client, "model-detail", first.model_id, stage="production")
    oldest_first = _get(client, "model-detail", first.model_id, sort="number")

    assert [v.id for v in response.context["page_obj"]] == [second.id, first.id]
    assert "★" in response.content.decode()
    assert b"Production" in response.content
    assert [v.id for v in production.context["page_obj"]] == [second.id]
    assert [v.id for v in oldest_first.context["page_obj"]] == [first.id, second.id]


def test_the_model_page_costs_the_same_queries_for_one_version_or_many(client, owner):
    version = make_model_version(owner)
    client.force_login(owner)
    few = _queries(client, "model-detail", version.model_id)
    for n in range(6):
        other = make_model_version(owner)
        PipelineRun.objects.filter(id=make_run(owner, name=f"r{n}").id).update(model_version=other)

    assert _queries(client, "model-detail", version.model_id) == few


def test_the_version_page_shows_metadata_artifacts_by_kind_and_runs(client, owner):
    version = make_model_version(owner)
    data = save_value("training_data", [1, 2])
    weights = save_value("weights", {"w": 1})
    link(version, data, "data")
    link(version, weights, "model")
    log("model_version", version.id, accuracy=0.93)
    run = make_run(owner, name="trained-it")
    PipelineRun.objects.filter(id=run.id).update(model_version=version)
    client.force_login(owner)

    response = _get(client, "model-version-detail", version.id)

    html = response.content.decode()
    assert [label for label, _ in response.context["artifact_groups"]] == ["Data", "Model"]
    assert reverse("dashboard:artifact-version-detail", args=[weights.id]) in html
    assert "accuracy" in html
    assert "0.93" in html
    assert reverse("dashboard:run-detail", args=[run.id]) in html


def test_the_version_page_costs_the_same_queries_for_few_or_many_runs_artifacts_and_keys(client, owner):
    version = make_model_version(owner)
    link(version, save_value("a0", 0))
    PipelineRun.objects.filter(id=make_run(owner, name="r0").id).update(model_version=version)
    client.force_login(owner)
    few = _queries(client, "model-version-detail", version.id)
    for n in range(1, 7):
        link(version, save_value(f"a{n}", n), "model" if n % 2 else "data")
        PipelineRun.objects.filter(id=make_run(owner, name=f"r{n}").id).update(model_version=version)
        log("model_version", version.id, **{f"k{n}": n})

    assert _queries(client, "model-version-detail", version.id) == few


# --- stage changes -----------------------------------------------------------------


def test_a_user_without_the_permission_sees_the_stage_read_only_and_cannot_post(client, teammate):
    version = make_model_version(teammate)
    client.force_login(teammate)

    page = _get(client, "model-version-detail", version.id)
    response = _stage(client, version, "staging")

    assert b'name="stage"' not in page.content
    assert response.status_code == 403
    version.refresh_from_db()
    assert version.stage == "none"


def test_staff_status_alone_does_not_change_stages(client, owner, django_user_model):
    staff = django_user_model.objects.create_user("boss", is_staff=True)
    version = make_model_version(owner)
    client.force_login(staff)

    page = _get(client, "model-version-detail", version.id)
    response = _stage(client, version, "staging")

    assert b'name="stage"' not in page.content
    assert response.status_code == 403
    version.refresh_from_db()
    assert version.stage == "none"


@pytest.mark.parametrize("who", ["releaser", "superuser"])
def test_superusers_and_users_with_the_permission_change_stages(client, owner, releaser, who, django_user_model):
    # Staff status alone used to be enough; the permission table says it is not.
    user = releaser if who == "releaser" else django_user_model.objects.create_superuser("boss", "", "pw-boss-123")
    version = make_model_version(owner)
    client.force_login(user)

    page = _get(client, "model-version-detail", version.id)
    response = _stage(client, version, "staging")

    assert b'name="csrfmiddlewaretoken"' in page.content
    assert b'name="force"' in page.content
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.stage == "staging"
    assert "now in staging" in _get(client, "model-version-detail", version.id).content.decode()


def test_taking_a_held_stage_asks_to_tick_force_and_force_archives_the_holder(client, owner, releaser):
    holder = make_model_version(owner)
    model_version_set_stage(version=holder, stage="production")
    challenger = make_model_version(owner)
    client.force_login(releaser)

    refused = _stage(client, challenger, "production")
    message = _get(client, "model-version-detail", challenger.id).content.decode()
    forced = _stage(client, challenger, "production", force=True)

    assert refused.status_code == forced.status_code == 302
    assert "Tick “force”" in message
    assert "already in production" in message
    holder.refresh_from_db()
    challenger.refresh_from_db()
    assert (holder.stage, challenger.stage) == ("archived", "production")


def test_an_unknown_stage_is_refused_with_a_message(client, owner, releaser):
    version = make_model_version(owner)
    client.force_login(releaser)

    _stage(client, version, "launched")

    assert "Choose one of the stages" in _get(client, "model-version-detail", version.id).content.decode()


def test_stage_changes_need_a_csrf_token(owner, releaser):
    from django.test import Client

    version = make_model_version(owner)
    client = Client(enforce_csrf_checks=True)
    client.force_login(releaser)

    assert _stage(client, version, "staging").status_code == 403


def test_stage_changes_are_post_only(client, owner, releaser):
    version = make_model_version(owner)
    client.force_login(releaser)

    assert client.get(reverse("dashboard:model-version-stage", args=[version.id])).status_code == 405


# --- escaping ----------------------------------------------------------------------


@pytest.mark.parametrize("payload", XSS)
def test_model_names_versions_and_metadata_are_escaped(client, owner, payload):
    version = make_model_version(owner, model=payload, version=payload)
    log("model_version", version.id, **{payload: payload})
    client.force_login(owner)

    pages = [
        _get(client, "model-list"),
        _get(client, "model-detail", version.model_id),
        _get(client, "model-version-detail", version.id),
    ]

    for response in pages:
        assert response.status_code == 200
        assert payload.encode() not in response.content
