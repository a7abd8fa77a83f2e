"""The prune page (dashboard), retention settings through the API and the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from pipelines.models import BackupLease, Pipeline, PipelineRun, PrunedArtifactVersion
from pipelines.services.tokens import api_token_create
from tests.unit.pipelines.services.test_retention import exists, run_with_output

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _store(settings, tmp_path):
    from tests.unit.dashboard_data import use_fresh_store

    use_fresh_store(settings, tmp_path)


def holder_of(django_user_model, codename: str, name: str = "pruner"):
    user = django_user_model.objects.create_user(name)
    user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.fixture
def pruner(client, django_user_model):
    client.force_login(holder_of(django_user_model, "delete_pipelinerun"))
    return client


def test_staff_status_alone_does_not_open_the_prune_page(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("staffer", is_staff=True))

    assert client.get(reverse("dashboard:prune")).status_code == 403


def test_the_preview_shows_what_would_go_and_deletes_nothing(pruner):
    run, version = run_with_output("old-run", days_old=40, data=b"p" * 3000)
    run_with_output("new-run", days_old=1)

    response = pruner.post(reverse("dashboard:prune"), {"older_than": "30d", "action": "preview"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "1 runs, 1 artifact versions, 2.9 KB of files (3000 bytes)" in page
    assert "old-run" in page
    assert "new-run" not in page
    assert "Delete them" in page
    assert PipelineRun.objects.filter(id=run.id).exists()
    assert exists(version)


def test_confirming_deletes_runs_versions_and_files(pruner):
    run, version = run_with_output("old-run", days_old=40)

    response = pruner.post(
        reverse("dashboard:prune"), {"older_than": "30d", "pipeline": "training", "action": "confirm"}, follow=True
    )

    assert response.status_code == 200
    assert "Deleted 1 runs, 1 artifact versions, 1 files" in response.content.decode()
    assert not PipelineRun.objects.filter(id=run.id).exists()
    assert not exists(version)
    assert PrunedArtifactVersion.objects.get(version_id=version.id).files_deleted_at is not None


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ({}, "Older than (e.g. 30d) and/or Keep last"),
        ({"older_than": "a month"}, "is not an age"),
        ({"keep_last": "many"}, "Keep last: &#x27;many&#x27; is not a whole number"),
        ({"keep_last": "3", "pipeline": "nope"}, "no pipeline named"),
        ({"keep_last": "2", "retention": "on"}, "not both"),
    ],
)
def test_bad_options_are_a_400_that_names_the_field(pruner, form, said):
    response = pruner.post(reverse("dashboard:prune"), {**form, "action": "confirm"})

    assert response.status_code == 400
    assert said in response.content.decode()


def test_the_page_renders_for_a_holder(pruner):
    response = pruner.get(reverse("dashboard:prune"))

    assert response.status_code == 200
    assert "Prune runs and artifacts" in response.content.decode()


# --- the API: PATCH /api/v1/pipelines/{id}/ ------------------------------------------------


def api_as(user) -> APIClient:
    client = APIClient()
    _, key = api_token_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_holder_of_change_pipeline_sets_and_clears_retention_settings(django_user_model):
    pipeline = Pipeline.objects.create(name="training")
    api = api_as(holder_of(django_user_model, "change_pipeline"))
    url = reverse("pipeline-detail", kwargs={"pk": pipeline.id})

    response = api.patch(url, {"retention_keep_runs": 10, "retention_keep_days": 30}, format="json")
    assert response.status_code == 200
    assert response.json()["retention_keep_runs"] == 10
    assert response.json()["retention_keep_days"] == 30

    response = api.patch(url, {"retention_keep_days": None}, format="json")
    assert response.status_code == 200
    pipeline.refresh_from_db()
    assert (pipeline.retention_keep_runs, pipeline.retention_keep_days) == (10, None)
    assert api.get(url).json()["retention_keep_runs"] == 10


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"retention_keep_runs": 0}, "retention_keep_runs"),
        ({"retention_keep_days": -1}, "retention_keep_days"),
        ({"retention_keep_days": "soon"}, "retention_keep_days"),
        ({"retention_keep_runs": 10**12}, "retention_keep_runs"),
        ({"name": "renamed"}, "name"),
        ([1, 2], "non_field_errors"),
    ],
)
def test_bad_retention_settings_are_a_400_naming_the_field(django_user_model, body, field):
    pipeline = Pipeline.objects.create(name="training")
    api = api_as(holder_of(django_user_model, "change_pipeline"))

    response = api.patch(reverse("pipeline-detail", kwargs={"pk": pipeline.id}), body, format="json")

    assert response.status_code == 400
    assert field in response.content.decode()
    pipeline.refresh_from_db()
    assert pipeline.name == "training"
    assert pipeline.retention_keep_runs is None


def test_without_change_pipeline_the_patch_is_403(django_user_model):
    pipeline = Pipeline.objects.create(name="training")
    api = api_as(django_user_model.objects.create_user("teammate", is_staff=True))

    response = api.patch(
        reverse("pipeline-detail", kwargs={"pk": pipeline.id}), {"retention_keep_runs": 3}, format="json"
    )

    assert response.status_code == 403
    assert "pipelines.change_pipeline" in response.json()["detail"]


# --- the admin -------------------------------------------------------------------------------


def test_the_admin_edits_a_pipeline_s_retention_settings_and_nothing_else(admin_client):
    pipeline = Pipeline.objects.create(name="training")
    url = reverse("admin:pipelines_pipeline_change", args=[pipeline.id])

    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"retention_keep_runs": "5", "retention_keep_days": "", "name": "renamed"})

    assert response.status_code == 302
    pipeline.refresh_from_db()
    assert (pipeline.name, pipeline.retention_keep_runs, pipeline.retention_keep_days) == ("training", 5, None)
    response = admin_client.post(url, {"retention_keep_runs": "0", "retention_keep_days": ""})
    assert response.status_code == 200  # the form again, with the error
    assert "greater than or equal to 1" in response.content.decode()


def test_the_admin_lists_tombstones_and_backup_leases(admin_client):
    from django.utils import timezone

    now = timezone.now()
    PrunedArtifactVersion.objects.create(version_id=7, artifact_name="numbers", uri="/x/runs/1", pruned_at=now)
    BackupLease.objects.create(holder="backup.sh", started_at=now, expires_at=now + timedelta(hours=1))

    assert "numbers" in admin_client.get(reverse("admin:pipelines_prunedartifactversion_changelist")).content.decode()
    assert "backup.sh" in admin_client.get(reverse("admin:pipelines_backuplease_changelist")).content.decode()


def test_a_pipeline_s_retention_is_patched_by_its_name_too(django_user_model):
    Pipeline.objects.create(name="training")
    api = api_as(holder_of(django_user_model, "change_pipeline"))

    response = api.patch("/api/v1/pipelines/training/", {"retention_keep_days": 90}, format="json")

    assert response.status_code == 200
    assert Pipeline.objects.get(name="training").retention_keep_days == 90
