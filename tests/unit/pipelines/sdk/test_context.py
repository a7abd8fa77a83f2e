"""The step context: `get_step_context()` and what a running step asks of it."""

from __future__ import annotations

import contextvars
import threading

import pytest

from pipelines import StepContext, StepContextError, get_step_context
from pipelines.sdk.context import (
    InputArtifact,
    OutputTarget,
    PipelineInfo,
    PipelineRunInfo,
    StepRunInfo,
    step_context,
)
from pipelines.sdk.materializers import BuiltInContainerMaterializer, BuiltInMaterializer, PickleMaterializer


def _context(step_name: str = "train", outputs: dict[str, OutputTarget] | None = None) -> StepContext:
    return StepContext(
        pipeline=PipelineInfo(id=1, name="training"),
        pipeline_run=PipelineRunInfo(id=2, name="training-1", status="running", config={}),
        step_run=StepRunInfo(id=3, name=step_name, attempt=1, cache_key="k"),
        inputs={
            "numbers": InputArtifact(
                name="numbers",
                artifact_name="numbers",
                version="1",
                uri="/store/load/numbers",
                materializer="pipelines.sdk.materializers.builtin:BuiltInContainerMaterializer",
                producer_step="load",
            )
        },
        outputs=outputs if outputs is not None else {},
    )


def _target(name: str, materializer: type | None = BuiltInMaterializer) -> OutputTarget:
    return OutputTarget(name=name, uri=f"/store/{name}", materializer=materializer)


ONE_OUTPUT = {"model": _target("model")}
TWO_OUTPUTS = {"model": _target("model"), "report": _target("report", PickleMaterializer)}


# --- get_step_context --------------------------------------------------------
def test_get_step_context_outside_a_step_says_it_is_outside_a_step():
    with pytest.raises(StepContextError, match="outside a running step"):
        get_step_context()


def test_get_step_context_outside_a_step_is_a_runtime_error_as_zenmls():
    # ZenML raises RuntimeError there; code written for it catches that.
    with pytest.raises(RuntimeError, match="outside a running step"):
        get_step_context()


def test_get_step_context_inside_step_context_returns_that_context():
    context = _context()

    with step_context(context) as entered:
        assert entered is context
        assert get_step_context() is context


def test_leaving_step_context_restores_the_outside():
    with step_context(_context()):
        pass

    with pytest.raises(StepContextError):
        get_step_context()


def test_leaving_step_context_after_an_error_restores_the_outside():
    with pytest.raises(RuntimeError), step_context(_context()):
        raise RuntimeError("the step failed")

    with pytest.raises(StepContextError):
        get_step_context()


def test_nested_step_contexts_restore_the_outer_one():
    outer, inner = _context("outer"), _context("inner")

    with step_context(outer):
        with step_context(inner):
            assert get_step_context() is inner
        assert get_step_context() is outer


def test_contexts_are_isolated_across_threads():
    both_inside = threading.Barrier(2, timeout=5)
    seen: dict[str, str] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            with step_context(_context(name)):
                both_inside.wait()  # each thread reads while the other holds its own context
                seen[name] = get_step_context().step_name
                both_inside.wait()
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == []
    assert seen == {"first": "first", "second": "second"}
    with pytest.raises(StepContextError):
        get_step_context()


def test_a_context_set_in_a_thread_does_not_leak_into_the_main_thread():
    entered = threading.Event()
    release = threading.Event()

    def run() -> None:
        with step_context(_context("in-thread")):
            entered.set()
            release.wait(timeout=5)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert entered.wait(timeout=5)
        with pytest.raises(StepContextError):
            get_step_context()
    finally:
        release.set()
        thread.join(timeout=10)


def test_a_copied_contextvars_context_sees_the_step_context():
    context = _context()

    with step_context(context):
        copied = contextvars.copy_context()

    assert copied.run(get_step_context) is context


# --- what the context offers ------------------------------------------------------
def test_step_name_is_the_name_of_the_step_run():
    assert _context("evaluate").step_name == "evaluate"


def test_the_context_exposes_pipeline_run_step_run_and_inputs():
    context = _context()

    assert context.pipeline.name == "training"
    assert context.pipeline_run.name == "training-1"
    assert context.step_run.attempt == 1
    assert context.inputs["numbers"].producer_step == "load"


def test_with_one_output_the_output_name_may_be_omitted():
    context = _context(outputs=ONE_OUTPUT)

    assert context.get_output_artifact_uri() == "/store/model"
    materializer = context.get_output_materializer()
    assert type(materializer) is BuiltInMaterializer
    assert materializer.uri == "/store/model"


def test_with_one_output_its_name_may_be_given():
    context = _context(outputs=ONE_OUTPUT)

    assert context.get_output_artifact_uri("model") == "/store/model"
    assert type(context.get_output_materializer("model")) is BuiltInMaterializer


def test_with_several_outputs_each_is_found_by_name():
    context = _context(outputs=TWO_OUTPUTS)

    assert context.get_output_artifact_uri("report") == "/store/report"
    assert type(context.get_output_materializer("report")) is PickleMaterializer
    assert context.get_output_artifact_uri(output_name="model") == "/store/model"


def test_an_output_without_annotation_gets_the_default_materializer_instance():
    # ZenML gives an instance for an `Any` output too (None before).
    context = _context(outputs={"anything": _target("anything", None)})

    materializer = context.get_output_materializer()

    assert type(materializer) is PickleMaterializer
    assert materializer.uri == "/store/anything"


def test_an_output_without_annotation_gets_the_materializer_of_the_data_type_given():
    context = _context(outputs={"anything": _target("anything", None)})

    assert type(context.get_output_materializer(data_type=int)) is BuiltInMaterializer
    assert type(context.get_output_materializer(data_type=dict[str, int])) is BuiltInContainerMaterializer


def test_a_custom_materializer_class_is_made_for_the_outputs_folder():
    context = _context(outputs=ONE_OUTPUT)

    materializer = context.get_output_materializer(custom_materializer_class=PickleMaterializer)

    assert type(materializer) is PickleMaterializer
    assert materializer.uri == "/store/model"


@pytest.mark.parametrize("method", ["get_output_artifact_uri", "get_output_materializer"])
def test_with_several_outputs_omitting_the_name_is_an_error_listing_them(method):
    context = _context(outputs=TWO_OUTPUTS)

    with pytest.raises(StepContextError) as excinfo:
        getattr(context, method)()

    message = str(excinfo.value)
    assert "several outputs (model, report)" in message
    assert "output_name=" in message


@pytest.mark.parametrize("method", ["get_output_artifact_uri", "get_output_materializer"])
@pytest.mark.parametrize("outputs", [ONE_OUTPUT, TWO_OUTPUTS])
def test_an_unknown_output_name_is_an_error_listing_the_outputs(method, outputs):
    context = _context(outputs=outputs)

    with pytest.raises(StepContextError) as excinfo:
        getattr(context, method)("nope")

    message = str(excinfo.value)
    assert "no output named 'nope'" in message
    assert f"its outputs are: {', '.join(outputs)}" in message


@pytest.mark.parametrize("method", ["get_output_artifact_uri", "get_output_materializer"])
def test_a_step_without_outputs_is_an_error(method):
    context = _context("side_effect", outputs={})

    with pytest.raises(StepContextError, match="'side_effect' declares no outputs"):
        getattr(context, method)()


def test_a_step_without_outputs_asked_for_a_named_output_says_it_has_none():
    with pytest.raises(StepContextError, match="its outputs are: none"):
        _context(outputs={}).get_output_artifact_uri("model")
