"""The model control plane: versions made by runs, stages, links, API and metadata."""

from __future__ import annotations

from typing import Annotated

import pytest
from django.contrib.auth.models import Permission

from pipelines import Model, PipelineDefinitionError, pipeline, step
from pipelines.engine.executor import step_run_execute
from pipelines.models import ModelStage, ModelVersion
from pipelines.sdk.spec import SpecError
from pipelines.services.model_versions import ModelStageTaken, model_version_resolve, model_version_set_stage
from pipelines.services.runs import pipeline_run_create
from tests.integration import sample_pipelines as sample

pytestmark = pytest.mark.django_db


def _with_model(model: Model):
    return pipeline(name="numbers_with_model", model=model, enable_cache=False)(sample.numbers_pipeline.entrypoint)


def test_each_run_without_a_version_makes_the_next_numbered_version(owner, broker):
    runs = [pipeline_run_create(spec=_with_model(Model(name="churn")).compile(scale=1), user=owner) for _ in range(3)]

    versions = [run.model_version for run in runs]
    assert [(v.number, v.name) for v in versions] == [(1, "1"), (2, "2"), (3, "3")]
    assert {v.model.name for v in versions} == {"churn"}


def test_a_named_version_is_reused_and_a_numbered_one_must_exist(owner, broker):
    first = pipeline_run_create(spec=_with_model(Model(name="churn", version="rc1")).compile(scale=1), user=owner)
    second = pipeline_run_create(spec=_with_model(Model(name="churn", version="rc1")).compile(scale=1), user=owner)
    by_number = pipeline_run_create(spec=_with_model(Model(name="churn", version=1)).compile(scale=1), user=owner)

    assert first.model_version_id == second.model_version_id == by_number.model_version_id
    with pytest.raises(SpecError, match="no version number 7"):
        pipeline_run_create(spec=_with_model(Model(name="churn", version=7)).compile(scale=1), user=owner)


def test_a_run_on_a_stage_works_on_the_version_holding_it(owner, no_broker):
    # Model(name, version="production") names the version in production (ZenML's
    # inference pipelines); the server resolves it when the run is created.
    spec = _with_model(Model(name="churn", version="production")).compile(scale=1)
    with pytest.raises(SpecError, match="'churn' does not exist"):
        pipeline_run_create(spec=spec, user=owner)
    v1 = model_version_resolve(spec_model={"name": "churn"}, user=owner)
    model_version_resolve(spec_model={"name": "churn"}, user=owner)
    with pytest.raises(SpecError, match="no version in stage 'production'"):
        pipeline_run_create(spec=spec, user=owner)
    model_version_set_stage(version=v1, stage=ModelStage.PRODUCTION)

    assert pipeline_run_create(spec=spec, user=owner).model_version_id == v1.id


def test_promoting_into_a_held_stage_needs_force_and_archives_the_holder(owner):
    v1 = model_version_resolve(spec_model={"name": "churn"}, user=owner)
    v2 = model_version_resolve(spec_model={"name": "churn"}, user=owner)
    model_version_set_stage(version=v1, stage=ModelStage.PRODUCTION)

    with pytest.raises(ModelStageTaken, match="force=True"):
        model_version_set_stage(version=v2, stage=ModelStage.PRODUCTION)
    model_version_set_stage(version=v2, stage=ModelStage.PRODUCTION, force=True)

    assert ModelVersion.objects.get(id=v1.id).stage == ModelStage.ARCHIVED
    assert ModelVersion.objects.get(id=v2.id).stage == ModelStage.PRODUCTION


def test_a_runs_outputs_are_linked_to_its_model_version(owner, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = pipeline_run_create(spec=_with_model(Model(name="churn")).compile(scale=2), user=owner)
    step_run_execute(step_run_id=broker.sent.pop())

    linked = {link.artifact_version.artifact.name for link in run.model_version.artifact_links.all()}
    assert linked == {"numbers", "numbers_with_model::total::output"}


def test_the_api_finds_versions_by_name_number_stage_or_latest(api, owner):
    v1 = model_version_resolve(spec_model={"name": "churn", "version": "first"}, user=owner)
    model_version_resolve(spec_model={"name": "churn"}, user=owner)
    model_version_set_stage(version=v1, stage=ModelStage.STAGING)

    def find(version):
        return [
            v["number"]
            for v in api.get("/api/v1/model-versions/", {"model": "churn", "version": version}).json()["results"]
        ]

    assert find("latest") == [2]
    assert find("staging") == [1]
    assert find("first") == [1]
    assert find("2") == [2]
    assert api.get("/api/v1/models/churn/").json()["name"] == "churn"


def test_the_api_refuses_a_stage_change_without_the_permission(api, owner):
    version = model_version_resolve(spec_model={"name": "churn"}, user=owner)

    response = api.post(f"/api/v1/model-versions/{version.id}/stage/", {"stage": "production"}, format="json")

    assert response.status_code == 403
    assert "pipelines.change_modelversion" in response.json()["detail"]
    assert ModelVersion.objects.get(id=version.id).stage == ModelStage.NONE


def test_the_api_moves_stages_and_refuses_a_held_one_without_force(api, owner):
    # The same permission as the dashboard's (it used to be open to every user).
    owner.user_permissions.add(Permission.objects.get(codename="change_modelversion"))
    v1 = model_version_resolve(spec_model={"name": "churn"}, user=owner)
    v2 = model_version_resolve(spec_model={"name": "churn"}, user=owner)
    assert api.post(f"/api/v1/model-versions/{v1.id}/stage/", {"stage": "production"}, format="json").status_code == 200

    refused = api.post(f"/api/v1/model-versions/{v2.id}/stage/", {"stage": "production"}, format="json")
    forced = api.post(f"/api/v1/model-versions/{v2.id}/stage/", {"stage": "production", "force": True}, format="json")

    assert refused.status_code == 400
    assert "force=True" in refused.json()["detail"]
    assert forced.json()["stage"] == "production"


def test_metadata_can_be_logged_on_a_model_version(api, owner):
    version = model_version_resolve(spec_model={"name": "churn"}, user=owner)

    response = api.post(
        "/api/v1/metadata/",
        {"model_version": version.id, "entries": [{"key": "auc", "value": 0.8, "type": "float"}]},
        format="json",
    )

    assert response.status_code == 201
    assert api.get(f"/api/v1/model-versions/{version.id}/").json()["run_metadata"] == [
        {"key": "auc", "value": 0.8, "type": "float"}
    ]


@step(model=Model(name="scorer"))
def score(numbers: list[int]) -> Annotated[int, "score"]:
    return sum(numbers)


@pipeline(name="step_model_pipeline", enable_cache=False)
def step_model_pipeline():
    score(sample.load())


@pipeline(name="shared_model_pipeline", model=Model(name="scorer"), enable_cache=False)
def shared_model_pipeline():
    score(sample.load())


def test_a_step_with_its_own_model_gets_a_version_and_links_only_its_outputs(
    owner, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = pipeline_run_create(spec=step_model_pipeline.compile(), user=owner)
    step_run_execute(step_run_id=broker.sent.pop())  # load, then score in the same worker

    steps = {s.name: s for s in run.steps.all()}
    assert steps["load"].model_version_id is None
    own = steps["score"].model_version
    assert (own.model.name, own.number) == ("scorer", 1)
    # The run has no model of its own, so it is linked to its step's version.
    run.refresh_from_db()
    assert run.model_version_id == own.id
    assert {link.artifact_version.artifact.name for link in own.artifact_links.all()} == {"score"}


def test_a_step_naming_the_pipelines_model_shares_its_new_version(owner, broker):
    run = pipeline_run_create(spec=shared_model_pipeline.compile(), user=owner)

    score_step = run.steps.get(name="score")
    assert score_step.model_version_id == run.model_version_id
    assert ModelVersion.objects.filter(model__name="scorer").count() == 1


def test_a_step_model_must_be_a_model():
    with pytest.raises(PipelineDefinitionError, match=r"takes a pipelines\.Model"):
        step(model="scorer")(lambda: None)
