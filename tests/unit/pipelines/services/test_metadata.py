"""Run metadata: validation, typed values, logging inside steps, the API, history."""

from __future__ import annotations

import pytest

from pipelines import DType, MetadataError, Path, StorageSize, Uri
from pipelines.engine.executor import step_run_execute
from pipelines.models import ArtifactVersion, RunMetadata
from pipelines.sdk.metadata import MAX_VALUE_BYTES, decode, encode, entries_from_api
from pipelines.services.metadata import run_metadata_create
from pipelines.services.runs import pipeline_run_create
from tests.integration import sample_pipelines as sample


# --- values ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", [Uri("s3://b/k"), Path("/data/x.csv"), DType("float32"), StorageSize(2048)])
def test_typed_values_keep_their_type_through_encoding(value):
    (entry,) = encode({"k": value})

    assert entry["type"] == type(value).__name__
    restored = decode(entry["value"], entry["type"])
    assert type(restored) is type(value)
    assert restored == value


@pytest.mark.parametrize(
    ("value", "kind"), [(1, "int"), (1.5, "float"), (True, "bool"), ("x", "str"), ([1], "list"), ({"a": 1}, "dict")]
)
def test_plain_json_values_are_typed_by_kind(value, kind):
    assert encode({"k": value})[0]["type"] == kind


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"": 1}, "non-empty"),
        ({"  ": 1}, "non-empty"),
        ({"k": object()}, "must be JSON"),
        ({"k": {"nested": {1, 2}}}, "not JSON"),
        ({"k": float("nan")}, "not JSON"),
        ({"k": "x" * (MAX_VALUE_BYTES + 1)}, "Save large data as an artifact"),
        ({"x" * 300: 1}, "longer than"),
    ],
)
def test_bad_metadata_is_refused_with_a_clear_error(metadata, message):
    with pytest.raises(MetadataError, match=message):
        encode(metadata)


def test_metadata_must_be_a_mapping():
    with pytest.raises(MetadataError, match="dict of key to value"):
        encode([("k", 1)])


def test_entries_expose_value_type_and_key():
    entries = entries_from_api([{"key": "accuracy", "value": 0.9, "type": "float"}])

    assert entries["accuracy"].value == 0.9
    assert entries["accuracy"].type == "float"
    assert entries["accuracy"].key == "accuracy"


# --- logging inside a step (in-process engine) -----------------------------------------
@pytest.mark.django_db(transaction=True)
def test_metadata_logged_in_a_step_lands_on_its_output_and_step_run(owner, broker, api):
    run = pipeline_run_create(spec=sample.metadata_pipeline.compile(), user=owner)
    step_run_execute(step_run_id=broker.sent.pop())

    body = api.get(f"/api/v1/runs/{run.id}/").json()
    (step,) = body["steps"]
    output = step["outputs"]["my_dataset"]
    by_key = {entry["key"]: entry for entry in output["run_metadata"]}
    # The latest write of a key is served; the materializer's own metadata is there too.
    assert by_key["accuracy"] == {"key": "accuracy", "value": 0.93, "type": "float"}
    assert by_key["source"]["type"] == "Uri"
    assert by_key["length"]["value"] == 3
    assert output["tags"] == ["gold", "v2"]
    assert {e["key"]: e["value"] for e in step["run_metadata"]} == {"rows": 3, "disk": 1024}
    # Every write is kept.
    version = ArtifactVersion.objects.get(id=output["id"])
    assert list(version.metadata.filter(key="accuracy").values_list("value", flat=True)) == [0.5, 0.93]


@pytest.mark.django_db
def test_the_api_logs_metadata_on_one_target(api, owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)

    response = api.post(
        "/api/v1/metadata/",
        {"pipeline_run": run.id, "entries": [{"key": "owner", "value": "team-a", "type": "str"}]},
        format="json",
    )

    assert response.status_code == 201
    assert api.get(f"/api/v1/runs/{run.id}/").json()["run_metadata"] == [
        {"key": "owner", "value": "team-a", "type": "str"}
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"entries": [{"key": "k", "value": 1, "type": "int"}]}, 400, "exactly one target"),
        ({"pipeline_run": 999, "entries": [{"key": "k", "value": 1, "type": "int"}]}, 404, "No pipeline run"),
        ({"pipeline_run": "RUN", "entries": [{"key": "", "value": 1, "type": "int"}]}, 400, "non-empty"),
        ({"pipeline_run": "RUN", "entries": [{"key": "k", "value": 1, "type": "weird"}]}, 400, "Unknown metadata type"),
    ],
)
def test_bad_metadata_requests_are_refused(api, owner, broker, body, status, message):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    body = {k: (run.id if v == "RUN" else v) for k, v in body.items()}

    response = api.post("/api/v1/metadata/", body, format="json")

    assert response.status_code == status
    assert message in response.json()["detail"]
    assert RunMetadata.objects.count() == 0


@pytest.mark.django_db
def test_a_metadata_row_needs_exactly_one_target(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)

    with pytest.raises(MetadataError, match="exactly one target"):
        run_metadata_create(
            entries=[{"key": "k", "value": 1, "type": "int"}],
            pipeline_run_id=run.id,
            step_run_id=run.steps.first().id,
        )


# --- where log_metadata sends things (no server needed inside a step) -------------------
def _context(outputs=("model",)):
    from pipelines.sdk.context import OutputTarget, PipelineInfo, PipelineRunInfo, StepContext, StepRunInfo

    return StepContext(
        pipeline=PipelineInfo(1, "p"),
        pipeline_run=PipelineRunInfo(1, "p-1", "running", {}),
        step_run=StepRunInfo(1, "train", 1, ""),
        inputs={},
        outputs={name: OutputTarget(name, f"/store/{name}", None) for name in outputs},
    )


def test_inside_a_step_log_metadata_goes_to_the_running_step():
    from pipelines import log_metadata, log_step_metadata
    from pipelines.sdk.context import step_context

    with step_context(_context()) as ctx:
        log_metadata({"loss": 0.1})
        log_step_metadata({"epochs": 3})

    assert [e["key"] for e in ctx.step_metadata] == ["loss", "epochs"]
    assert ctx.output_metadata == {}


def test_inside_a_step_artifact_metadata_goes_to_the_output():
    from pipelines import log_artifact_metadata, log_metadata
    from pipelines.sdk.context import step_context

    with step_context(_context(("model", "report"))) as ctx:
        log_metadata({"auc": 0.8}, infer_artifact=True, artifact_name="model")
        log_artifact_metadata({"pages": 2}, artifact_name="report")
        with pytest.raises(Exception, match="several outputs"):
            log_artifact_metadata({"x": 1})
        with pytest.raises(Exception, match="no output named 'other'"):
            log_metadata({"x": 1}, artifact_name="other")

    assert {name: [e["key"] for e in entries] for name, entries in ctx.output_metadata.items()} == {
        "model": ["auc"],
        "report": ["pages"],
    }


def test_outside_a_step_log_metadata_needs_a_target(monkeypatch):
    from pipelines import log_metadata

    monkeypatch.setenv("PIPELINES_API_TOKEN", "pip_x")
    with pytest.raises(ValueError, match="needs a target"):
        log_metadata({"x": 1})
