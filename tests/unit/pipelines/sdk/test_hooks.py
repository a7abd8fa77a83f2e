"""Hooks as the SDK takes them: `@step(on_failure=..., on_success=...)`, the same on
`@pipeline` (each step's default) and in `with_options`, given as functions, partials
or source paths, stored in the spec as source paths and checked at definition time."""

from __future__ import annotations

import functools

import pytest

from pipelines import pipeline, step
from pipelines.hooks import (
    alerter_failure_hook,
    alerter_success_hook,
    resolve_and_validate_hook,
    webhook_alerter_failure_hook,
)
from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.spec import SpecError, validate_spec

HERE = __name__


# ZenML's docs (use-failure-success-hooks.md), `zenml` -> `pipelines`:
def on_failure():
    print("Step failed!")


def on_success():
    print("Step succeeded!")


@step(on_failure=on_failure)
def my_failing_step() -> int:
    """Returns an integer."""
    raise ValueError("Error")


@step(on_success=on_success)
def my_successful_step() -> int:
    """Returns an integer."""
    return 1


@pipeline(on_failure=on_failure, on_success=on_success)
def my_pipeline():
    my_failing_step()
    my_successful_step()


def on_failure_with_exception(exception: BaseException):
    print(type(exception))


def takes_a_parameter(threshold):
    print(threshold)


def test_the_docs_step_hooks_are_stored_as_source_paths():
    spec = my_pipeline.compile()
    failing, successful = spec["steps"]

    assert failing["on_failure"] == f"{HERE}:on_failure"
    assert successful["on_success"] == f"{HERE}:on_success"


def test_a_pipeline_hook_is_the_default_of_each_step_and_a_step_hook_wins():
    spec = my_pipeline.compile()
    failing, successful = spec["steps"]

    assert failing["on_success"] == f"{HERE}:on_success"  # from the pipeline
    assert successful["on_failure"] == f"{HERE}:on_failure"
    other = my_pipeline.with_options(on_failure=on_failure_with_exception).compile()
    assert other["steps"][0]["on_failure"] == f"{HERE}:on_failure"  # the step's own
    assert other["steps"][1]["on_failure"] == f"{HERE}:on_failure_with_exception"


@pytest.mark.parametrize("given", [f"{HERE}:on_failure", f"{HERE}.on_failure"])
def test_a_hook_may_be_given_by_source_path_in_either_form(given):
    assert my_successful_step.with_options(on_failure=given).hook_specs["on_failure"] == f"{HERE}:on_failure"


def test_with_options_sets_and_keeps_hooks():
    changed = my_failing_step.with_options(on_success=on_success)

    assert changed.hook_specs == {"on_failure": f"{HERE}:on_failure", "on_success": f"{HERE}:on_success"}
    assert my_failing_step.hook_specs["on_success"] is None


def test_a_lambda_is_refused_naming_it():
    with pytest.raises(
        PipelineDefinitionError, match=r"on_failure hook '.*<lambda>' of step 'my_successful_step'.*top level"
    ):
        my_successful_step.with_options(on_failure=lambda: None)


def test_a_nested_function_is_refused_naming_it():
    def local_hook():
        pass

    with pytest.raises(PipelineDefinitionError, match=r"local_hook.*must be a function defined at the top level"):
        step(on_success=local_hook)(lambda: 1)


def test_a_source_path_that_does_not_import_is_refused():
    with pytest.raises(PipelineDefinitionError, match=r"on_failure hook 'no_such_module.hook' .* cannot be imported"):
        my_successful_step.with_options(on_failure="no_such_module.hook")


def test_a_hook_needing_an_argument_no_one_gives_is_refused():
    with pytest.raises(PipelineDefinitionError, match=r"needs the argument 'threshold'"):
        my_successful_step.with_options(on_success=takes_a_parameter)


def test_only_a_failure_hook_may_take_the_exception():
    assert my_successful_step.with_options(on_failure=on_failure_with_exception).hook_specs["on_failure"]
    with pytest.raises(PipelineDefinitionError, match=r"on_success hook .* takes nothing"):
        my_successful_step.with_options(on_success=on_failure_with_exception)


def test_a_partial_keeps_its_keyword_arguments_in_the_spec():
    hook = functools.partial(takes_a_parameter, threshold=3)

    assert my_successful_step.with_options(on_success=hook).hook_specs["on_success"] == {
        "source": f"{HERE}:takes_a_parameter",
        "kwargs": {"threshold": 3},
    }
    with pytest.raises(PipelineDefinitionError, match="must be JSON values"):
        my_successful_step.with_options(on_success=functools.partial(takes_a_parameter, threshold=object()))


def test_the_ready_made_alerter_hooks_are_valid_hooks():
    assert resolve_and_validate_hook(alerter_failure_hook) == "pipelines.hooks:alerter_failure_hook"
    assert resolve_and_validate_hook(alerter_success_hook, "on_success") == "pipelines.hooks:alerter_success_hook"
    assert resolve_and_validate_hook(webhook_alerter_failure_hook(secret_name="team")) == {
        "source": "pipelines.hooks:alerter_failure_hook",
        "kwargs": {"secret_name": "team"},
    }


def test_the_spec_refuses_a_malformed_hook_naming_the_step():
    spec = my_pipeline.compile()
    spec["steps"][0]["on_failure"] = "not a source"
    with pytest.raises(SpecError, match=r"step 'my_failing_step': on_failure must be 'module:qualname'"):
        validate_spec(spec)
    spec["steps"][0]["on_failure"] = {"source": "a:b", "kwargs": [1]}
    with pytest.raises(SpecError, match=r"on_failure must be 'module:qualname' or"):
        validate_spec(spec)


# ZenML's docs (hooks.md, "Sending alerts from hooks"), `zenml` -> `pipelines`:
@step(on_failure=alerter_failure_hook, on_success=alerter_success_hook)
def my_alerting_step():
    pass


def test_the_docs_alerter_hooks_snippet_defines_a_step_with_both_hooks():
    assert my_alerting_step.hook_specs == {
        "on_failure": "pipelines.hooks:alerter_failure_hook",
        "on_success": "pipelines.hooks:alerter_success_hook",
    }
