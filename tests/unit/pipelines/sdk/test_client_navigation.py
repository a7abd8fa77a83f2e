"""Navigating from the Client's answers as ZenML's "Fetching pipelines" page does:
pipeline -> runs -> steps -> inputs/outputs, and back up."""

from __future__ import annotations

import pytest

from pipelines.sdk.client import Client
from pipelines.sdk.exceptions import ServerError
from pipelines.services.runs import pipeline_run_create
from tests.integration import sample_pipelines as sample
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport
from tests.unit.pipelines.engine.test_secrets_in_steps import secrets_api  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(api, monkeypatch) -> Client:
    client = Client(server_url="http://pipelines.test", api_token="unused")
    monkeypatch.setattr(client, "_http", lambda: InProcessTransport(api))
    return client


def _run(pipeline, owner, broker, **parameters):
    run = pipeline_run_create(spec=pipeline.compile(**parameters), user=owner)
    broker.drain()
    run.refresh_from_db()
    return run


def test_a_pipeline_lists_its_runs_newest_first_and_names_its_last_and_last_successful(client, owner, broker):
    first = _run(sample.numbers_pipeline, owner, broker, scale=1)
    second = _run(sample.numbers_pipeline, owner, broker, scale=3)
    failed = _run(sample.failing_pipeline, owner, broker)
    _run(sample.chatty_pipeline, owner, broker)

    pipeline = client.get_pipeline("numbers_pipeline")

    assert [run.id for run in pipeline.runs] == [second.id, first.id]
    assert pipeline.last_run.id == second.id
    assert pipeline.last_successful_run.id == second.id
    assert pipeline.last_run.steps["total"].output.load() == 18  # a whole run, steps included
    failing = client.get_pipeline("failing_pipeline")
    assert failing.last_run.id == failed.id
    with pytest.raises(RuntimeError, match="'failing_pipeline' has no successful runs"):
        failing.last_successful_run


def test_the_docs_fetching_pipelines_snippets_run_with_pipelines_for_zenml(client, owner, broker):
    _run(sample.numbers_pipeline, owner, broker, scale=2)

    # From ZenML's "Fetching pipelines" page, `zenml` -> `pipelines` (and the names).
    pipeline_model = client.get_pipeline("numbers_pipeline")
    runs = pipeline_model.runs
    last_run = pipeline_model.last_run
    last_run = pipeline_model.runs[0]
    steps = last_run.steps
    step = last_run.steps["total"]
    output = step.outputs["output"]
    my_artifact_data = output.load()

    assert len(runs) == 1
    assert set(steps) == {"load", "total"}
    assert my_artifact_data == 12
    assert step.config.parameters == {"scale": 2}
    assert step.inputs["numbers"].load() == [1, 2, 3]
    assert step.inputs["numbers"].run_metadata == last_run.steps["load"].outputs["numbers"].run_metadata
    assert last_run.pipeline.name == "numbers_pipeline"
    assert last_run.pipeline.id == pipeline_model.id
    assert isinstance(last_run.config, dict)


def test_an_artifact_lists_its_versions_by_name(client, owner, broker):
    first = _run(sample.numbers_pipeline, owner, broker, scale=1)
    second = _run(sample.numbers_pipeline, owner, broker, scale=1)

    versions = client.get_artifact("numbers").versions

    produced = [first.steps.get(name="load"), second.steps.get(name="load")]
    assert [version.producer_step_run_id for version in versions.values()] == [step.id for step in produced]
    assert all(name == version.version for name, version in versions.items())
    assert [version.load() for version in versions.values()] == [[1, 2, 3], [1, 2, 3]]


def test_a_step_gives_its_captured_logs(client, owner, broker):
    run = _run(sample.chatty_pipeline, owner, broker)

    fetched = client.get_pipeline_run(run.id)
    logs = fetched.steps["chatty"].logs  # a run's steps carry no logs: fetched on first use

    assert "hello from stdout" in logs
    assert "hello from stderr" in logs
    assert "hello from logging" in logs
    assert client.get_run_step(fetched.steps["chatty"].id).logs == logs
    assert fetched.steps["chatty"].run.id == run.id


def test_the_logs_endpoint_answers_the_stored_text_and_404_for_an_unknown_step(api, owner, broker):
    run = _run(sample.chatty_pipeline, owner, broker)
    step = run.steps.get(name="chatty")

    answer = api.get(f"/api/v1/steps/{step.id}/logs/")

    assert answer.status_code == 200
    assert answer.json() == {"id": step.id, "logs": step.logs}
    assert api.get(f"/api/v1/steps/{step.id + 1000}/logs/").status_code == 404
    assert api.get("/api/v1/steps/x/logs/").status_code == 404


def test_a_run_is_found_by_a_prefix_of_its_name_when_only_one_run_has_it(client, owner, broker):
    run = _run(sample.numbers_pipeline, owner, broker, scale=1)
    _run(sample.chatty_pipeline, owner, broker)

    found = client.get_pipeline_run("numbers_pipeline-")

    assert found.id == run.id
    assert client.get_pipeline_run(name_id_or_prefix=run.name[:-1]).id == run.id
    assert client.get_pipeline_run(name_id_or_prefix=run.id).name == run.name
    assert client.get_pipeline_run(run.name).id == run.id


def test_an_ambiguous_run_name_prefix_lists_the_runs_it_matches(client, owner, broker):
    first = _run(sample.numbers_pipeline, owner, broker, scale=1)
    second = _run(sample.numbers_pipeline, owner, broker, scale=1)

    with pytest.raises(KeyError, match="is the start of several run names") as caught:
        client.get_pipeline_run("numbers_pipeline")
    assert first.name in str(caught.value)
    assert second.name in str(caught.value)
    with pytest.raises(KeyError, match="No pipeline run with id, name or name prefix 'nothing'"):
        client.get_pipeline_run("nothing")
    with pytest.raises(ServerError):  # prefixes only when asked for (ZenML's allow_name_prefix_match)
        client.get_pipeline_run("numbers_pipeline", allow_name_prefix_match=False)


def test_the_getters_take_zenmls_keyword_names(client, owner, broker):
    run = _run(sample.numbers_pipeline, owner, broker, scale=1)

    assert client.get_pipeline(name_id_or_prefix="numbers_pipeline").name == "numbers_pipeline"
    assert client.get_artifact(name_id_or_prefix="numbers").name == "numbers"
    version = client.get_artifact_version(name_id_or_prefix="numbers")
    assert version.producer_step_run_id == run.steps.get(name="load").id
    assert client.get_artifact_version(name_id_or_prefix=version.id).id == version.id
    with pytest.raises(TypeError, match="Give name_or_id or name_id_or_prefix, not both"):
        client.get_pipeline("numbers_pipeline", name_id_or_prefix="numbers_pipeline")
    with pytest.raises(TypeError, match="Missing the argument run_id"):
        client.get_pipeline_run()


def test_the_model_getters_take_zenmls_keyword_names(client, owner):
    from pipelines.models import MLModel, ModelVersion

    model = MLModel.objects.create(name="churn")
    ModelVersion.objects.create(model=model, number=1, name="first")

    assert client.get_model(model_name_or_id="churn").id == model.id
    found = client.get_model_version(model_name_or_id="churn", model_version_name_or_number_or_id="first")
    assert found.number == 1
    assert client.get_model_version("churn", model_version_name_or_number_or_id=1).name == "first"
    assert client.get_model_version("churn").name == "first"  # latest


def test_list_filters_take_zenmls_operator_syntax(client, owner, broker):
    from datetime import UTC, datetime, timedelta

    first = _run(sample.numbers_pipeline, owner, broker, scale=1)
    second = _run(sample.numbers_pipeline, owner, broker, scale=1)
    _run(sample.chatty_pipeline, owner, broker)
    at = second.created_at.isoformat()
    before = (first.created_at - timedelta(days=1)).isoformat()

    newest_first = client.list_pipeline_runs(pipeline="numbers_pipeline", sort_by="desc:created")
    oldest_first = client.list_pipeline_runs(pipeline="numbers_pipeline", sort_by="asc:created")
    assert [run.id for run in newest_first] == [second.id, first.id]
    assert [run.id for run in oldest_first] == [first.id, second.id]
    assert [run.id for run in client.list_pipeline_runs(pipeline="numbers_pipeline", created=f"gte:{at}")] == [
        second.id
    ]
    assert [run.id for run in client.list_pipeline_runs(pipeline="numbers_pipeline", created=f"lt:{at}")] == [first.id]
    assert client.list_pipeline_runs(created=f"gt:{at}", name="contains:numbers").total == 0
    assert client.list_pipeline_runs(created=f"gt:{before}").total == 3
    assert client.list_pipeline_runs(status="equals:completed").total == 3
    now = datetime.now(UTC).isoformat()
    assert client.list_artifact_versions(artifact="numbers", created=f"lte:{now}").total == 2
    assert client.list_artifact_versions(artifact="numbers", created=f"gt:{now}").total == 0


def test_an_unsupported_operator_is_an_error_naming_what_works(client):
    with pytest.raises(ValueError, match="created takes the operators gte, gt, lte, lt, equals"):
        client.list_pipeline_runs(created="contains:2024")
    with pytest.raises(ValueError, match="name takes the operators equals, notequals, contains, startswith"):
        client.list_pipeline_runs(name="gt:numbers")
    with pytest.raises(ValueError, match="not an ISO date"):
        client.list_pipeline_runs(created="gt:yesterday")
    with pytest.raises(ValueError, match="'asc:' or 'desc:'"):
        client.list_pipeline_runs(sort_by="down:created")
    with pytest.raises(ServerError, match="created_after"):  # an unknown field: the server lists the valid ones
        client.list_pipeline_runs(colour="equals:red")


def test_the_logs_endpoint_answers_a_steps_log_with_the_secret_values_it_read_masked(
    secrets_api,  # noqa: F811  (the fixture imported above)
    api,
    owner,
    no_broker,
):
    from pipelines.engine.executor import step_run_execute
    from tests.integration import secret_pipelines
    from tests.unit.pipelines.engine.test_secrets_in_steps import CANARY, MASK

    secrets_api.add("canary", {"token": CANARY})
    run = pipeline_run_create(spec=secret_pipelines.canary_pipeline.compile(secret_name="canary"), user=owner)
    for step_run in run.steps.all():
        step_run_execute(step_run_id=step_run.id)

    logs = api.get(f"/api/v1/steps/{run.steps.get(name='leak_everywhere').id}/logs/").json()["logs"]

    assert CANARY not in logs
    assert f"printed: {MASK}" in logs
