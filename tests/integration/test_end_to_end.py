"""Pipelines submitted through the SDK, run by a real worker process."""

from __future__ import annotations

import time

import pytest

from pipelines.client import Client
from pipelines.models import StepRun
from pipelines.sdk.exceptions import AuthenticationError, NoWorkerError, RunFailedError, ServerError
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_issue_example_runs_on_the_worker_and_returns_a_completed_run(running_worker):
    run = sample.numbers_pipeline(scale=3)

    assert run.status == "completed"
    assert set(run.steps) == {"load", "total"}
    assert run.steps["total"].output.load() == 18
    assert run.steps["load"].outputs["numbers"].load() == [1, 2, 3]
    assert run.steps["load"].outputs["numbers"].artifact_name == "numbers"
    assert run.steps["total"].inputs["numbers"].id == run.steps["load"].outputs["numbers"].id
    assert run.name.startswith("numbers_pipeline-")


def test_the_step_context_describes_the_running_step_and_its_output_uri(running_worker):
    run = sample.context_pipeline()

    seen = run.steps["describe_context"].outputs["context"]
    context = seen.load()
    assert context["pipeline"] == "context_pipeline"
    assert context["run"] == run.name
    assert context["step"] == context["step_name"] == "describe_context"
    assert context["attempt"] == 1
    assert context["materializer"] == "BuiltInContainerMaterializer"
    # The URI the context announced is exactly where the output was saved.
    assert context["uri"] == seen.uri
    inputs_seen = run.steps["check_inputs"].outputs["inputs_seen"].load()
    assert inputs_seen == {"artifact": "context", "producer": "describe_context", "uri": seen.uri}


def test_independent_steps_run_at_the_same_time(running_worker):
    started = time.monotonic()
    run = sample.parallel_pipeline(seconds=1.5)
    elapsed = time.monotonic() - started

    assert run.status == "completed"
    assert run.steps["add_up"].output.load() == 3.0
    first, second = run.steps["nap"], run.steps["nap_2"]
    assert first.started_at < second.finished_at
    assert second.started_at < first.finished_at
    assert elapsed < 2 * 1.5 + 1.0


def test_several_outputs_feed_separate_steps_in_the_order_after_asks_for(running_worker):
    run = sample.split_pipeline(values=[1, 2, 3, 4, 5])

    assert run.status == "completed"
    assert run.steps["count"].output.load() == 2
    assert run.steps["count_2"].output.load() == 3
    assert run.steps["split"].started_at >= run.steps["marker"].finished_at
    assert run.steps["marker"].outputs == {}


def test_a_failing_step_fails_the_run_keeps_its_traceback_and_skips_what_depends_on_it(running_worker):
    with pytest.raises(RunFailedError, match="explode") as failure:
        sample.failing_pipeline(message="kaboom-42")

    run = failure.value.run
    assert run.status == "failed"
    assert failure.value.failed_steps == ["explode"]
    assert run.steps["total"].status == "skipped"
    # The branch that did not depend on the failure still ran.
    assert run.steps["count"].status == "completed"
    stored = StepRun.objects.get(id=run.steps["explode"].id)
    assert "Traceback" in stored.error
    assert "ValueError: kaboom-42" in stored.error
    assert "about to fail" in stored.logs


def test_an_output_that_cannot_be_saved_fails_the_step_with_a_clear_error(running_worker):
    with pytest.raises(RunFailedError) as failure:
        sample.unsaveable_pipeline()

    error = StepRun.objects.get(id=failure.value.run.steps["unsaveable"].id).error
    assert "Could not save output 'output' of step 'unsaveable'" in error
    assert "disk full (simulated)" in error


def test_a_step_the_worker_cannot_import_fails_with_a_message_saying_where_code_must_live(running_worker):
    spec = sample.numbers_pipeline.compile(scale=1)
    spec["steps"][0]["source"] = "no_such_module_anywhere:load"

    run = Client().create_run(spec).wait(raise_on_failure=False)

    assert run.status == "failed"
    error = run.steps["load"].error
    assert "could not import step 'load'" in error
    assert "PIPELINES_SOURCE_ROOT" in error
    assert run.steps["total"].status == "skipped"


def test_what_a_step_prints_and_logs_is_kept_on_the_step_run(running_worker):
    run = sample.chatty_pipeline()

    logs = StepRun.objects.get(id=run.steps["chatty"].id).logs
    assert "hello from stdout" in logs
    assert "hello from stderr" in logs
    assert "hello from logging" in logs


def test_waiting_learns_of_the_end_of_a_run_quickly(running_worker):
    run = sample.numbers_pipeline.with_options(wait=False)(scale=1)
    run.wait()
    finished = StepRun.objects.filter(pipeline_run_id=run.id).order_by("-finished_at").first().finished_at
    # The client saw the end no later than a long-poll tick after it was recorded.
    assert run.finished_at is not None
    assert (run.finished_at - finished).total_seconds() < 0.5


def test_a_run_with_no_worker_on_its_queue_raises_a_clear_error_within_seconds(
    worker_process, transactional_db, sdk_env, settings
):
    settings.PIPELINES = {**settings.PIPELINES, "QUEUE": "queue-nobody-consumes"}
    started = time.monotonic()

    with pytest.raises(NoWorkerError, match="celery -A config worker"):
        sample.numbers_pipeline(scale=1)

    assert time.monotonic() - started < 15


def test_a_wrong_token_is_refused_with_an_authentication_error(live_server, transactional_db, monkeypatch):
    monkeypatch.setenv("PIPELINES_SERVER_URL", live_server.url)
    monkeypatch.setenv("PIPELINES_API_TOKEN", "pip_not-a-real-token")

    with pytest.raises(AuthenticationError, match="create_api_token"):
        sample.numbers_pipeline(scale=1)


def test_an_invalid_spec_is_refused_with_the_reason(live_server, transactional_db, sdk_env):
    spec = sample.numbers_pipeline.compile(scale=1)
    spec["steps"][1]["inputs"]["numbers"]["output"] = "missing"

    with pytest.raises(ServerError, match="whose outputs are: numbers") as refused:
        Client().create_run(spec)
    assert refused.value.status_code == 400


def test_metadata_logged_in_a_step_is_read_back_through_the_client(running_worker):
    from pipelines import Uri, log_metadata

    run = sample.metadata_pipeline()

    version = Client().get_artifact_version("my_dataset", run.steps["make_dataset"].outputs["my_dataset"].version)
    assert version.run_metadata["accuracy"].value == 0.93
    assert isinstance(version.run_metadata["source"].value, Uri)
    assert version.tags == ["gold", "v2"]
    assert run.steps["make_dataset"].run_metadata["rows"].value == 3

    # From a script: explicit targets.
    log_metadata({"reviewed": True}, run_id_name_or_prefix=run.name)
    log_metadata({"approved_by": "ana"}, artifact_name="my_dataset", artifact_version=version.version)
    assert Client().get_pipeline_run(run.id).run_metadata["reviewed"].value is True
    assert Client().get_artifact_version(version.id).run_metadata["approved_by"].value == "ana"


def test_a_step_uses_the_client_with_a_run_token_that_dies_with_the_step(running_worker):
    from pipelines.models import ApiToken

    run = sample.client_pipeline()

    assert run.steps["reads_its_own_run"].output.load() == {"name": run.name, "steps": ["reads_its_own_run"]}
    assert Client().get_pipeline_run(run.id).run_metadata["seen_by_client"].value is True
    token = ApiToken.objects.get(step_run_id=run.steps["reads_its_own_run"].id)
    assert token.user.username == "owner"
    assert token.revoked_at is not None


def test_the_client_pages_filters_and_navigates(running_worker):
    from pipelines import load_artifact

    first = sample.numbers_pipeline(scale=1)
    second = sample.numbers_pipeline(scale=2)
    tagged = sample.metadata_pipeline()
    client = Client()

    page = client.list_pipeline_runs(size=2, pipeline="numbers_pipeline")
    assert (page.total, page.size, page.total_pages) == (2, 2, 1)
    assert [run.name for run in page] == [second.name, first.name]
    assert client.list_pipeline_runs(page=2, size=1, sort_by="created_at")[0].name == second.name
    assert client.list_pipeline_runs(status="completed", name="metadata").total == 1
    assert client.list_pipeline_runs(metadata_key="nothing-logged-this").total == 0

    steps = client.list_run_steps(run=first.id)
    assert sorted(step.name for step in steps) == ["load", "total"]
    assert client.get_run_step(steps[0].id).name == steps[0].name

    assert client.get_artifact("numbers").name == "numbers"
    assert client.list_artifacts(name="numb").total >= 1
    versions = client.list_artifact_versions(artifact="numbers", sort_by="number")
    assert [v.version for v in versions] == ["1", "2"]
    assert client.list_artifact_versions(tag="gold").items[0].id == tagged.steps["make_dataset"].output.id
    assert client.list_artifact_versions(metadata_key="accuracy").total == 1

    latest = client.get_artifact_version("numbers")
    assert latest.version == "2"
    assert latest.producer_step.name == "load"
    assert latest.producer_step.id == second.steps["load"].id
    assert load_artifact("numbers", 1) == [1, 2, 3]


def test_the_reference_page_snippets_run_on_the_worker(running_worker):
    from examples import fetch_metadata_in_steps as page

    page.ensure_dataset()
    page.ensure_dataset()  # the second call finds the version and does not run again
    run = page.reference_page_pipeline()

    context = run.steps["my_step"].output.load()
    assert context["pipeline"] == "reference_page_pipeline"
    assert context["run"] == run.name
    assert context["step"] == "my_step"
    assert context["uri"] == run.steps["my_step"].output.uri
    assert context["materializer"] == "BuiltInContainerMaterializer"
    assert run.steps["my_metadata_step"].output.load() == 0.91
    assert run.steps["my_model_step"].output.load() == {"some_value": 42, "accuracy": 0.91}
    assert Client().list_artifact_versions(artifact="my_dataset").total == 1
    version = Client().get_model_version("demo_model", "v1")
    assert version.number == 1
    assert run.id in version.run_ids
    assert len(version.run_ids) == 2  # the dataset run and this one work on the same version
    assert version.get_data_artifact("my_dataset").version == "my_version"


def test_a_fixed_artifact_version_cannot_be_written_twice(running_worker):
    from examples import fetch_metadata_in_steps as page

    page.dataset_pipeline()
    again = page.dataset_pipeline()  # cached: the same version is reused, nothing written
    assert again.steps["make_dataset"].status == "cached"
    with pytest.raises(RunFailedError) as failure:
        page.dataset_pipeline.with_options(enable_cache=False)()

    assert "already has a version 'my_version'" in failure.value.run.steps["make_dataset"].error


def test_save_artifact_works_from_a_script_and_from_a_step(running_worker):
    from pipelines import load_artifact, save_artifact
    from pipelines.sdk.exceptions import ServerError

    saved = save_artifact([1, 2, 3], name="side_output", version="from-script")
    assert (saved.version, saved.run_metadata["length"].value) == ("from-script", 3)
    assert load_artifact("side_output", "from-script") == [1, 2, 3]
    with pytest.raises(ServerError, match="already has a version 'from-script'"):
        save_artifact([4], name="side_output", version="from-script")

    run = sample.side_artifact_pipeline()
    version_id = run.steps["saves_a_side_artifact"].output.load()
    from_step = Client().get_artifact_version(version_id)
    assert from_step.load() == {"from": "a step"}
    assert from_step.tags == ["manual"]
    assert from_step.producer_step.name == "saves_a_side_artifact"
    assert load_artifact("side_output") == {"from": "a step"}  # the latest numbered one
