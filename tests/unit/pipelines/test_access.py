"""pipelines.access: who may read and write what, and the findings of issue 10 it closes.

The cast: `owner` starts the runs, `teammate` is another signed-in user with no
permissions, `outsider` an inactive user (or nobody), and a step's run token.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from pipelines import access, selectors
from pipelines.api.hot_reads import artifact_version_representation
from pipelines.models import ArtifactVersion, ArtifactVersionStatus, PipelineRun, RunStatus, StepRun, StepRunInput
from pipelines.services.model_versions import model_version_resolve
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim
from pipelines.services.tokens import api_token_create, run_token_create
from pipelines.storage import artifact_store
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


def client_for(user) -> APIClient:
    _, key = api_token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def grant(user, codename: str):
    user.user_permissions.add(Permission.objects.get(codename=codename))
    return type(user).objects.get(id=user.id)  # a fresh object: permissions are cached per instance


@pytest.fixture
def running(owner):
    """A run of `owner` whose first step is running, with that attempt's run token."""
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    step = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=step.id, worker="w")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {run_token_create(step_run_id=step.id, attempt=attempt)}")
    return run, step, attempt, client


def start_saving(client: APIClient, name: str = "saved") -> int:
    response = client.post("/api/v1/artifact-versions/", {"artifact": name}, format="json")
    assert response.status_code == 201, response.content
    path = Path(artifact_store().resolve(response.json()["uri"]))
    path.mkdir(parents=True, exist_ok=True)
    (path / "data.json").write_text("[1, 2, 3]")
    return response.json()["id"]


FINISH = {"materializer": "pipelines.materializers:JsonMaterializer", "data_type": "builtins:list"}
HIJACK = {"materializer": "evil.module:Evil", "data_type": "builtins:str"}


# --- finish: only the process that started a pending version ---------------------------


def test_a_user_cannot_finish_a_version_a_running_step_is_writing(running, teammate, owner):
    _, step, _, step_client = running
    version_id = start_saving(step_client)

    for intruder in (client_for(teammate), client_for(owner)):
        refused = intruder.post(f"/api/v1/artifact-versions/{version_id}/finish/", HIJACK, format="json")
        assert refused.status_code == 403
        assert "process that started saving it" in refused.json()["detail"]
    version = ArtifactVersion.objects.get(id=version_id)
    assert (version.status, version.materializer, version.producer_step_run_id) == ("pending", "", step.id)

    done = step_client.post(f"/api/v1/artifact-versions/{version_id}/finish/", FINISH, format="json")
    assert done.status_code == 200
    assert ArtifactVersion.objects.get(id=version_id).materializer == FINISH["materializer"]


def test_a_run_token_of_another_run_cannot_finish_a_steps_version(running, owner):
    _, _, _, step_client = running
    version_id = start_saving(step_client)
    other = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner).steps.get(name="load")
    other_client = APIClient()
    key = run_token_create(step_run_id=other.id, attempt=step_run_claim(step_run_id=other.id, worker="w"))
    other_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    refused = other_client.post(f"/api/v1/artifact-versions/{version_id}/finish/", HIJACK, format="json")

    assert refused.status_code == 403
    assert ArtifactVersion.objects.get(id=version_id).status == ArtifactVersionStatus.PENDING


def test_another_attempt_of_the_same_step_cannot_finish_an_earlier_attempts_version(running):
    _, _, attempt, step_client = running
    version_id = start_saving(step_client)
    ArtifactVersion.objects.filter(id=version_id).update(producer_attempt=attempt + 1)

    refused = step_client.post(f"/api/v1/artifact-versions/{version_id}/finish/", FINISH, format="json")

    assert refused.status_code == 403
    assert ArtifactVersion.objects.get(id=version_id).status == ArtifactVersionStatus.PENDING


def test_a_version_saved_outside_a_step_is_finished_by_its_user_only(owner, teammate, running):
    mine = client_for(owner)
    version_id = start_saving(mine)
    assert ArtifactVersion.objects.get(id=version_id).created_by_id == owner.id
    _, _, _, step_client = running  # a run token of the owner's own run: still not the saver

    assert client_for(teammate).post(f"/api/v1/artifact-versions/{version_id}/finish/", HIJACK).status_code == 403
    assert step_client.post(f"/api/v1/artifact-versions/{version_id}/finish/", HIJACK).status_code == 403
    assert ArtifactVersion.objects.get(id=version_id).status == ArtifactVersionStatus.PENDING
    assert mine.post(f"/api/v1/artifact-versions/{version_id}/finish/", FINISH, format="json").status_code == 200


def test_a_ready_version_cannot_be_finished_again(owner):
    mine = client_for(owner)
    version_id = start_saving(mine)
    assert mine.post(f"/api/v1/artifact-versions/{version_id}/finish/", FINISH, format="json").status_code == 200

    assert mine.post(f"/api/v1/artifact-versions/{version_id}/finish/", FINISH, format="json").status_code == 404


@pytest.mark.parametrize("key", ["²", "\u0661", "abc", "1.5", "-1", "99999999999999999999999"])
def test_an_id_that_is_not_ascii_digits_is_404_on_every_id_route(owner, key):
    client = client_for(owner)
    owner = grant(owner, "change_modelversion")

    for method, url in [
        ("post", f"/api/v1/artifact-versions/{key}/finish/"),
        ("get", f"/api/v1/artifact-versions/{key}/"),
        ("get", f"/api/v1/runs/{key}/"),
        ("get", f"/api/v1/runs/{key}/wait/"),
        ("post", f"/api/v1/runs/{key}/stop/"),
        ("get", f"/api/v1/steps/{key}/"),
        ("get", f"/api/v1/pipelines/{key}/"),
        ("get", f"/api/v1/artifacts/{key}/"),
        ("get", f"/api/v1/models/{key}/"),
        ("get", f"/api/v1/model-versions/{key}/"),
        ("post", f"/api/v1/model-versions/{key}/stage/"),
    ]:
        response = getattr(client, method)(url, FINISH if "finish" in url else {}, format="json")
        assert response.status_code == 404, (url, response.status_code)


# --- model stages: the same permission through the API and the dashboard ---------------


@pytest.mark.parametrize("who", ["teammate", "staff"])
def test_a_stage_change_without_the_permission_is_403_in_the_api_and_the_dashboard(
    owner, teammate, who, client, django_user_model
):
    user = teammate if who == "teammate" else django_user_model.objects.create_user("boss", is_staff=True)
    version = model_version_resolve(spec_model={"name": "churn"}, user=owner)

    api = client_for(user).post(f"/api/v1/model-versions/{version.id}/stage/", {"stage": "production"}, format="json")
    client.force_login(user)
    page = client.post(reverse("dashboard:model-version-stage", args=[version.id]), {"stage": "production"})

    assert (api.status_code, page.status_code) == (403, 403)
    version.refresh_from_db()
    assert version.stage == "none"


@pytest.mark.parametrize("who", ["holder", "superuser"])
def test_a_stage_change_with_the_permission_works_in_the_api(owner, teammate, who, django_user_model):
    user = grant(teammate, "change_modelversion") if who == "holder" else None
    user = user or django_user_model.objects.create_superuser("root", "", "pw-root-123")
    version = model_version_resolve(spec_model={"name": "churn"}, user=owner)

    response = client_for(user).post(f"/api/v1/model-versions/{version.id}/stage/", {"stage": "staging"}, format="json")

    assert response.status_code == 200
    assert response.json()["stage"] == "staging"


# --- stopping and re-running someone else's run ------------------------------------------


def test_only_the_owner_or_a_permission_holder_stops_a_run_through_the_api(owner, teammate):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)

    refused = client_for(teammate).post(f"/api/v1/runs/{run.id}/stop/")
    assert refused.status_code == 403
    assert "pipelines.change_pipelinerun" in refused.json()["detail"]
    assert PipelineRun.objects.get(id=run.id).status == RunStatus.INITIALIZING

    holder = grant(teammate, "change_pipelinerun")
    assert client_for(holder).post(f"/api/v1/runs/{run.id}/stop/").status_code == 200
    assert PipelineRun.objects.get(id=run.id).status in (RunStatus.STOPPING, RunStatus.STOPPED)


def test_the_owner_stops_their_own_run_through_the_api(owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)

    assert client_for(owner).post(f"/api/v1/runs/{run.id}/stop/").status_code == 200


@pytest.mark.parametrize("name", ["run-stop", "run-rerun"])
def test_the_dashboard_refuses_stop_and_rerun_of_someone_elses_run(client, owner, teammate, name):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    client.force_login(teammate)

    response = client.post(reverse(f"dashboard:{name}", args=[run.id]))

    assert response.status_code == 403
    assert PipelineRun.objects.count() == 1
    assert PipelineRun.objects.get(id=run.id).status == RunStatus.INITIALIZING


def test_the_run_page_offers_stop_and_rerun_only_to_who_may_use_them(client, owner, teammate):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    stop = reverse("dashboard:run-stop", args=[run.id])
    rerun = reverse("dashboard:run-rerun", args=[run.id])

    client.force_login(teammate)
    theirs = client.get(reverse("dashboard:run-detail", args=[run.id])).content.decode()
    client.force_login(grant(teammate, "change_pipelinerun"))
    granted = client.get(reverse("dashboard:run-detail", args=[run.id])).content.decode()

    assert stop not in theirs
    assert rerun not in theirs
    assert stop in granted
    assert rerun in granted


# --- reads: everything goes through the visible querysets ------------------------------


@pytest.fixture
def world(owner):
    """A finished run with outputs, metadata and a model version, as the pages show it."""
    from pipelines.engine.executor import step_run_execute

    spec = sample.metadata_pipeline.with_options(enable_cache=False).compile()
    run = pipeline_run_create(spec=spec, user=owner)
    step_run_execute(step_run_id=StepRun.objects.get(pipeline_run=run).id)
    run.refresh_from_db()
    # A later run that read the output, so the version has a consumer to list.
    reader = pipeline_run_create(spec=spec, user=owner).steps.get()
    StepRunInput.objects.create(step_run=reader, name="data", artifact_version=ArtifactVersion.objects.first())
    version = model_version_resolve(spec_model={"name": "churn"}, user=owner)
    return run, version


def _reads(run, model_version) -> dict:
    """Every selector that reads rows, as a function of the reader."""
    step = run.steps.first()
    artifact_version = StepRunInput.objects.get().artifact_version
    return {
        "run_revision": lambda u: selectors.run_revision(u, run_id=run.id),
        "run_progress": lambda u: selectors.run_progress(u, run_id=run.id),
        "run_step_rows": lambda u: selectors.run_step_rows(u, run_id=run.id),
        "run_outputs": lambda u: list(selectors.run_outputs(u, run_id=run.id)),
        "run_live_state": lambda u: selectors.run_live_state(u, run_id=run.id),
        "run_for_page": lambda u: selectors.run_for_page(u, run_id=run.id),
        "pipeline_latest_run": lambda u: selectors.pipeline_latest_run(u, pipeline_id=run.pipeline_id),
        "pipeline_latest_runs": lambda u: selectors.pipeline_latest_runs(u, pipeline_ids=[run.pipeline_id]),
        "pipeline_duration_trend": lambda u: selectors.pipeline_duration_trend(u, pipeline_id=run.pipeline_id),
        "pipelines_with_stats": lambda u: list(selectors.pipelines_with_stats(u)),
        "runs_filtered": lambda u: list(selectors.runs_filtered(u)),
        "runs_for_compare": lambda u: list(selectors.runs_for_compare(u, run_ids=[run.id])),
        "steps_for_list": lambda u: list(selectors.steps_for_list(u)),
        "step_for_page": lambda u: selectors.step_for_page(u, step_id=step.id),
        "step_log_since": lambda u: selectors.step_log_since(u, step_id=step.id, offset=10**6),
        "artifacts_with_summary": lambda u: list(selectors.artifacts_with_summary(u)),
        "artifact_versions_of": lambda u: list(
            selectors.artifact_versions_of(u, artifact_id=artifact_version.artifact_id)
        ),
        "artifact_version_for_page": lambda u: list(selectors.artifact_version_for_page(u)),
        "artifact_version_consumers": lambda u: list(
            selectors.artifact_version_consumers(u, version_id=artifact_version.id)
        ),
        "artifact_metadata_chart": lambda u: (
            selectors.artifact_metadata_chart(u, artifact_id=artifact_version.artifact_id, key="").points
        ),
        "models_with_summary": lambda u: list(selectors.models_with_summary(u)),
        "model_versions_of": lambda u: list(selectors.model_versions_of(u, model_id=model_version.model_id)),
        "model_version_for_page": lambda u: list(selectors.model_version_for_page(u)),
        "model_versions_recent": lambda u: list(selectors.model_versions_recent(u)),
        "numeric_metadata_keys": lambda u: selectors.numeric_metadata_keys(u),
        "metadata_points": lambda u: selectors.metadata_points(u, key="accuracy", target="artifact_version"),
        "dashboard_totals": lambda u: sum(selectors.dashboard_totals(u).values()),
        "run_counts_by_status": lambda u: sum(selectors.run_counts_by_status(u).values()),
        "lookup (hot read)": lambda u: artifact_version_representation(artifact_version.artifact.name, None, user=u),
    }


def test_every_read_shows_a_signed_in_user_the_whole_team_s_work(world, teammate):
    run, version = world
    for name, read in _reads(run, version).items():
        assert read(teammate), name


@pytest.mark.parametrize("who", ["anonymous", "inactive"])
def test_every_read_shows_nothing_to_someone_without_access(world, who, django_user_model):
    run, version = world
    nobody = AnonymousUser() if who == "anonymous" else django_user_model.objects.create_user("gone", is_active=False)
    for name, read in _reads(run, version).items():
        assert not read(nobody), name


def test_an_inactive_users_session_and_token_are_refused(client, owner):
    _, key = api_token_create(user=owner)
    client.force_login(owner)
    type(owner).objects.filter(id=owner.id).update(is_active=False)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    assert api.get("/api/v1/runs/").status_code == 401
    assert client.get(reverse("dashboard:run-list")).status_code == 302  # to the login page


def test_a_run_token_logs_metadata_only_on_its_own_run(running, owner):
    _, step, _, step_client = running
    other = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    entry = [{"key": "k", "value": 1, "type": "int"}]

    mine = step_client.post("/api/v1/metadata/", {"step_run": step.id, "entries": entry}, format="json")
    theirs = step_client.post(
        "/api/v1/metadata/", {"step_run": other.steps.first().id, "entries": entry}, format="json"
    )

    assert (mine.status_code, theirs.status_code) == (201, 403)


def test_the_access_helpers_refuse_with_404_then_403(owner, teammate):
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)

    assert access.access_run_for_control(owner, run_id=run.id).id == run.id
    with pytest.raises(PermissionDenied):
        access.access_run_for_control(teammate, run_id=run.id)
    with pytest.raises(Http404):
        access.access_run_for_control(AnonymousUser(), run_id=run.id)
    with pytest.raises(Http404):
        access.access_run(owner, run_id=run.id + 1000)


# --- the step list reads no run spec -----------------------------------------------------


def test_the_step_list_reads_neither_the_runs_spec_nor_the_steps_big_columns(api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=3), user=owner)
    run_table = connection.ops.quote_name(PipelineRun._meta.db_table)
    step_table = connection.ops.quote_name(StepRun._meta.db_table)
    quote = connection.ops.quote_name

    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/steps/", {"run": run.id, "limit": 50})

    assert response.status_code == 200
    assert response.json()["count"] == len(run.steps.all())
    sql = "\n".join(query["sql"] for query in queries.captured_queries)
    for table, column in [(run_table, "spec"), (run_table, "config"), (step_table, "logs"), (step_table, "spec")]:
        assert f"{table}.{quote(column)}" not in sql, (table, column)


DASHBOARD_ID_ROUTES = [
    *(("get", name) for name in ["run-detail", "run-live", "step-detail", "step-log", "pipeline-detail"]),
    *(("get", name) for name in ["artifact-detail", "model-detail", "model-version-detail"]),
    *(("get", f"artifact-version-{page}") for page in ["detail", "download", "preview"]),
    *(("post", name) for name in ["run-stop", "run-rerun", "model-version-stage"]),
]


@pytest.mark.parametrize(("method", "name"), DASHBOARD_ID_ROUTES)
def test_a_dashboard_id_beyond_any_row_is_404(client, owner, method, name):
    client.force_login(grant(owner, "change_modelversion"))
    url = reverse(f"dashboard:{name}", args=[1]).replace("/1/", f"/{10**30}/")

    assert getattr(client, method)(url).status_code == 404
