"""Small outputs kept in their ArtifactVersion row (`inline_files`) as well as the store.

The row is committed with the step's end and is what the engine loads inputs from;
the store's copy (for the download, the preview, the Client) is written without an
fsync, and put back from the row when the cache finds it missing or damaged.
Steps run in-process; publishing to the broker is intercepted (see test_lifecycle).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipelines.engine import executor
from pipelines.engine.executor import step_run_execute
from pipelines.models import ArtifactVersion, PipelineRun, StepStatus
from pipelines.sdk.artifact_loading import load_artifact_version
from pipelines.sdk.artifact_saving import INLINE_LIMIT
from pipelines.sdk.stores import LocalArtifactStore
from pipelines.services.runs import pipeline_run_create
from pipelines.storage import store_for_uri
from tests.integration import sample_pipelines as sample
from tests.unit.pipelines.engine import inline_pipelines

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def calls(tmp_path, monkeypatch):
    path = tmp_path / "calls.txt"
    monkeypatch.setenv(sample.CALLS_FILE_ENV, str(path))
    return lambda: path.read_text().split() if path.exists() else []


@pytest.fixture
def one_step_per_delivery(settings):
    settings.PIPELINES = {**settings.PIPELINES, "RUN_NEXT_STEP_INLINE": False}


def _run(pipeline, owner, broker, **params) -> PipelineRun:
    run = pipeline_run_create(spec=pipeline.compile(**params), user=owner)
    broker.drain()
    run.refresh_from_db()
    return run


def _output(run: PipelineRun, step: str) -> ArtifactVersion:
    return run.steps.get(name=step).output_links.get().artifact_version


def _load(version: ArtifactVersion, *, from_row: bool):
    return load_artifact_version(
        uri=version.uri,
        materializer=version.materializer,
        data_type=version.data_type,
        checksum=version.checksum,
        inline_files=version.inline_files if from_row else None,
    )


def test_a_small_output_is_kept_in_its_row_and_its_store_copy_is_the_same_version(owner, broker):
    run = _run(sample.numbers_pipeline, owner, broker, scale=2)

    assert run.status == "completed"
    numbers, total = _output(run, "load"), _output(run, "total")
    assert numbers.inline_files == {"data.json": '{"kind": "list", "value": [1, 2, 3]}'}
    assert total.inline_files == {"data.json": "12"}
    for version in (numbers, total):
        # One checksum for both copies: the store's verifies against it as any version's does.
        assert store_for_uri(version.uri).verify(version.uri, version.checksum) == version.size
        assert _load(version, from_row=True) == _load(version, from_row=False)
    assert _load(total, from_row=True) == 12


def test_the_next_step_loads_a_small_input_from_its_row(owner, broker, one_step_per_delivery):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=3), user=owner)
    step_run_execute(step_run_id=broker.sent.pop(0))  # load
    numbers = _output(run, "load")
    store_for_uri(numbers.uri).remove(numbers.uri)  # the copy; the row is the version

    broker.drain()

    run.refresh_from_db()
    assert run.status == "completed"
    assert _load(_output(run, "total"), from_row=True) == 18


def test_a_row_copy_that_does_not_match_its_checksum_fails_the_step_naming_the_uri(
    owner, broker, one_step_per_delivery
):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=3), user=owner)
    step_run_execute(step_run_id=broker.sent.pop(0))  # load
    numbers = _output(run, "load")
    ArtifactVersion.objects.filter(id=numbers.id).update(inline_files={"data.json": "[1, 2, 4]"})

    broker.drain()

    total = run.steps.get(name="total")
    assert total.status == StepStatus.FAILED
    assert numbers.uri in total.error
    assert "kept in its database row does not match its checksum" in total.error


def test_a_cached_small_output_whose_store_copy_was_lost_is_served_and_its_copy_put_back(owner, broker, calls):
    first = _run(sample.cached_pipeline, owner, broker, size=4)
    stored = _output(first, "cached_source")
    data_file = next(path for path in Path(stored.uri).rglob("*") if path.is_file())
    data_file.write_bytes(b"")  # as a power cut may leave a file written without an fsync

    second = _run(sample.cached_pipeline, owner, broker, size=4)

    assert second.steps.get(name="cached_source").status == StepStatus.CACHED
    assert calls().count("cached_source") == 1
    assert store_for_uri(stored.uri).verify(stored.uri, stored.checksum) == stored.size
    assert data_file.read_bytes() == stored.inline_files[data_file.name].encode()


def test_large_pickled_or_step_written_outputs_stay_in_files_only(owner, broker):
    big = _run(sample.cached_pipeline, owner, broker, size=2000)
    odd = _run(inline_pipelines.odd_outputs, owner, broker)

    large = _output(big, "cached_source")
    assert large.size > INLINE_LIMIT
    assert large.inline_files is None
    assert _output(odd, "enum_value").inline_files is None
    side = _output(odd, "with_a_side_file")
    assert side.inline_files is None
    # The file the step wrote itself is part of the version, as before.
    assert sorted(relative for relative, _ in store_for_uri(side.uri).walk(side.uri)) == ["data.json", "notes.txt"]
    assert _load(side, from_row=False) == 7


def test_outputs_are_reserved_only_before_a_durable_file_write(owner, broker, monkeypatch):
    # A small output kept in its row needs no pending version: it is created ready
    # with the step's end. A file written durably must never be on disk while the row
    # that lets the cleanup find it is not.
    events: list[str] = []
    real_reserve = executor.artifact_versions_reserve

    def reserve(**kwargs):
        events.append("reserve")
        return real_reserve(**kwargs)

    real_write_files = LocalArtifactStore.write_files

    def write_files(self, uri, files, *, durable=True):
        events.append("durable write" if durable else "copy")
        return real_write_files(self, uri, files, durable=durable)

    monkeypatch.setattr(executor, "artifact_versions_reserve", reserve)
    monkeypatch.setattr(LocalArtifactStore, "write_files", write_files)

    small = _run(sample.cached_pipeline.with_options(enable_cache=False), owner, broker, size=4)
    assert events == ["copy", "copy"]
    assert not ArtifactVersion.objects.filter(status="pending").exists()
    assert _output(small, "cached_source").producer_attempt == 1

    events.clear()
    _run(sample.cached_pipeline.with_options(enable_cache=False), owner, broker, size=2000)
    assert events == ["reserve", "durable write", "copy"]


def test_a_small_output_saved_before_a_large_one_is_reserved_with_it_and_kept_in_its_row(owner, broker):
    # The large output's durable write reserves every output of the attempt, the small
    # one saved before it too: that one's pending version is then made ready, not a
    # second version created for the same folder.
    run = _run(inline_pipelines.mixed_outputs, owner, broker)

    links = {link.name: link.artifact_version for link in run.steps.get().output_links.all()}
    assert run.status == "completed"
    assert set(links) == {"count", "values"}
    assert links["count"].inline_files is not None
    assert links["values"].inline_files is None
    assert (_load(links["count"], from_row=True), len(_load(links["values"], from_row=False))) == (3, 2000)
    assert ArtifactVersion.objects.filter(producer_step_run=run.steps.get()).count() == 2


def test_a_chain_step_passing_an_int_costs_one_commit(owner, broker):
    # Pins the bookkeeping of one int-passing step where the worker runs the next step
    # itself (bench/vs_zenml.py's chain), as the slope between chains of 6 and 11: the
    # step's end, which creates its output's version ready (a small output is never
    # reserved), queues the next step and claims it, in one commit that waits for the
    # disk. A new commit or statement on this path
    # costs every step of every run, so it should be a decision, not an accident.
    counts = {}
    for length in (6, 11):
        run = pipeline_run_create(spec=inline_pipelines.int_chain.compile(length=length), user=owner)
        with CaptureQueriesContext(connection) as queries:
            step_run_execute(step_run_id=broker.sent.pop(0))
        run.refresh_from_db()
        assert run.status == "completed"
        statements = [q["sql"] for q in queries.captured_queries]
        counts[length] = (sum(1 for sql in statements if re.match(r"\s*COMMIT", sql)), len(statements))

    commits_per_step = (counts[11][0] - counts[6][0]) / 5
    statements_per_step = (counts[11][1] - counts[6][1]) / 5
    assert commits_per_step == 1
    assert statements_per_step <= 16
