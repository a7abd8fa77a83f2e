"""Configuration as ZenML's: with_options / configure on steps and pipelines, the YAML
run configuration (with_options(config_path=...)), its checks and its precedence.

The YAML files and code are ZenML's documentation snippets (docs/book/how-to/
pipeline-development/use-configuration-files and build-pipelines/use-pipeline-step-
parameters) and its own configuration tests, with `zenml` replaced by `pipelines`.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from pipelines import Model, PipelineDefinitionError, StepRetryConfig, get_pipeline_context
from pipelines.sdk.pipeline_context import PipelineContextError
from pipelines.sdk.run_config import ConfigurationConflictError, load_run_config
from tests.unit.pipelines.sdk import config_pipelines as cp

REPO_ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(autouse=True)
def _source_root(monkeypatch):
    monkeypatch.setenv("PIPELINES_SOURCE_ROOT", str(REPO_ROOT))


def _yaml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def _steps(spec) -> dict:
    return {step_spec["name"]: step_spec for step_spec in spec["steps"]}


# --- ZenML's docs: "How to configure a pipeline with a YAML" ------------------------
def test_the_docs_minimal_yaml_sets_the_pipeline_parameter_and_the_steps_cache(tmp_path):
    config = _yaml(
        tmp_path,
        """
        enable_cache: False

        # Configure the pipeline parameters
        parameters:
          dataset_name: "best_dataset"

        steps:
          load_data:  # Use the step name here
            enable_cache: False  # same as @step(enable_cache=False)
        """,
    )

    spec = cp.simple_ml_pipeline.with_options(config_path=config).compile()

    assert spec["parameters"] == {"dataset_name": "best_dataset"}
    assert spec["enable_cache"] is False
    assert _steps(spec)["load_data"]["parameters"] == {"dataset_name": "best_dataset"}
    assert _steps(spec)["load_data"]["enable_cache"] is False


def test_the_docs_step_parameters_from_the_file_fill_what_the_code_does_not_pass(tmp_path):
    config = _yaml(
        tmp_path,
        """
        # these are parameters of the pipeline
        parameters:
          environment: production

        steps:
          my_step:
            # these are parameters of the step `my_step`
            parameters:
              input_2: 42
        """,
    )

    spec = cp.my_pipeline.with_options(config_path=config).compile()

    assert spec["parameters"] == {"environment": "production"}
    assert _steps(spec)["my_step"]["parameters"] == {"input_1": 1, "input_2": 42}


def test_the_docs_conflicts_between_the_file_and_the_code_are_errors(tmp_path):
    config = _yaml(
        tmp_path,
        """
        parameters:
            some_param: 24

        steps:
          my_step:
            parameters:
              input_2: 42
        """,
    )
    configured = cp.conflicting_pipeline.with_options(config_path=config)

    # `some_param` is 24 in the file, 23 in the call.
    with pytest.raises(RuntimeError, match="Configured parameter for the pipeline `conflicting_pipeline` conflict"):
        configured.compile(23)
    # `input_2` is 42 in the file, 43 in the step call.
    with pytest.raises(
        ConfigurationConflictError, match="Configured parameter for the step 'my_step' conflict with parameter"
    ) as caught:
        configured.compile(24)
    assert "'input_2' is 42 in the configuration and 43 in the code" in str(caught.value)


# --- ZenML's own configuration tests, ported ----------------------------------------
def test_file_parameters_reach_the_pipeline_and_the_file_wins_over_the_decorator(tmp_path):
    config = _yaml(tmp_path, "parameters: {foo: bar}\nenable_cache: false\n")

    configured = cp.assert_input_params_pipe.with_options(config_path=config)

    assert configured.parameters == {"foo": "bar"}
    assert configured.enable_cache is False  # @pipeline(enable_cache=True) in the code
    assert cp.assert_input_params_pipe.enable_cache is True  # with_options made a copy
    spec = configured.compile()
    assert _steps(spec)["assert_input_params"]["parameters"] == {"bar": "bar"}


def test_configure_in_code_after_the_file_wins(tmp_path):
    config = _yaml(tmp_path, "parameters: {foo: bar}\nenable_cache: false\nextra: {a: 1}\n")
    configured = cp.assert_input_params_pipe.with_options(config_path=config)

    returned = configured.configure(parameters={"foo": "1"}, extra={"a": 2})

    assert returned is configured
    assert configured.parameters == {"foo": "1"}
    assert configured.extra == {"a": 2}
    assert configured.enable_cache is False


def test_keywords_next_to_config_path_win_over_the_file(tmp_path):
    config = _yaml(tmp_path, "enable_cache: false\nrun_name: from-file\n")

    configured = cp.simple_ml_pipeline.with_options(config_path=config, enable_cache=True)

    assert configured.enable_cache is True
    assert configured.run_name_template == "from-file"


def test_a_step_parameter_from_the_file_conflicting_with_a_pipeline_parameter_passed_down_is_an_error(tmp_path):
    config = _yaml(
        tmp_path,
        """
        parameters: {foo: bar}
        steps:
          assert_input_params:
            parameters: {bar: "1"}
        """,
    )
    with pytest.raises(RuntimeError, match="Configured parameter for the step 'assert_input_params' conflict"):
        cp.assert_input_params_pipe.with_options(config_path=config).compile()


def test_a_pipeline_parameter_in_the_file_and_the_same_value_in_the_call_is_fine(tmp_path):
    config = _yaml(tmp_path, "parameters: {foo: bar}\n")
    spec = cp.assert_input_params_pipe.with_options(config_path=config).compile(foo="bar")
    assert spec["parameters"] == {"foo": "bar"}


def test_file_parameters_replace_a_steps_defaults_and_fill_its_required_arguments(tmp_path):
    config = _yaml(
        tmp_path,
        """
        steps:
          assert_input_params_with_defaults:
            parameters: {foo: bar, bar: bar}
        enable_cache: false
        """,
    )
    spec = cp.defaults_pipe.with_options(config_path=config).compile()
    assert _steps(spec)["assert_input_params_with_defaults"]["parameters"] == {"foo": "bar", "bar": "bar"}


def test_the_same_value_in_the_file_and_the_step_call_is_no_conflict(tmp_path):
    config = _yaml(tmp_path, "steps:\n  trainer:\n    parameters: {gamma: 0.1}\n")
    spec = cp.tagged_pipeline.with_options(config_path=config).compile()
    assert _steps(spec)["trainer"]["parameters"] == {"gamma": 0.1}


def test_steps_are_configured_by_invocation_id(tmp_path):
    config = _yaml(tmp_path, "steps:\n  trainer_2:\n    enable_cache: false\n    extra: {which: second}\n")

    spec = cp.twice_pipeline.with_options(config_path=config).compile()

    assert _steps(spec)["trainer"]["enable_cache"] is True
    assert _steps(spec)["trainer_2"]["enable_cache"] is False
    assert _steps(spec)["trainer_2"]["extra"] == {"which": "second"}


# --- everything a file may set -------------------------------------------------
def test_a_file_sets_run_name_tags_extra_model_settings_and_step_options(tmp_path):
    config = _yaml(
        tmp_path,
        """
        enable_step_logs: True
        enable_artifact_metadata: True
        extra:
          any_param: 1
          another_random_key: "some_string"
        model:
          name: "classification_model"
          description: "This classifies hotdogs and not hotdogs"
          license: "Apache 2.0"
          tags: ["sklearn", "hotdog", "classification"]
        run_name: "my_great_run-{date}-{time}"
        tags: ["nightly", "from-yaml"]
        settings:
          docker:
            requirements: ["torch"]
          resources:
            cpu_count: 2
            memory: "4Gb"
        steps:
          load_data:
            parameters:
              dataset_name: "best_dataset"
            enable_cache: False
            retry: {max_retries: 2, delay: 1, backoff: 2}
            extra: {step_key: 1}
            settings:
              resources: {gpu_count: 1}
            outputs: {}
            failure_hook_source: "tests.unit.pipelines.sdk.config_pipelines.quiet_hook"
        """,
    )
    spec = cp.simple_ml_pipeline.with_options(config_path=config).compile(dataset_name="best_dataset")

    assert spec["run_name_template"] == "my_great_run-{date}-{time}"
    assert spec["tags"] == ["nightly", "from-yaml"]
    assert spec["extra"] == {"any_param": 1, "another_random_key": "some_string"}
    assert spec["settings"] == {"docker": {"requirements": ["torch"]}, "resources": {"cpu_count": 2, "memory": "4Gb"}}
    assert spec["model"]["name"] == "classification_model"
    assert spec["model"]["license"] == "Apache 2.0"
    load = _steps(spec)["load_data"]
    assert load["parameters"] == {"dataset_name": "best_dataset"}
    assert load["enable_cache"] is False
    assert load["retry"] == {"max_retries": 2, "delay": 1, "backoff": 2}
    assert load["extra"] == {"step_key": 1}
    # The step's settings over the pipeline's, key by key (ZenML's hierarchy).
    assert load["settings"] == {
        "docker": {"requirements": ["torch"]},
        "resources": {"cpu_count": 2, "memory": "4Gb", "gpu_count": 1},
    }
    assert load["on_failure"] == "tests.unit.pipelines.sdk.config_pipelines:quiet_hook"


def test_the_loaded_file_is_keywords_of_configure(tmp_path):
    options = load_run_config(
        _yaml(tmp_path, "model: {name: churn, version: production}\nsteps:\n  a:\n    retry: {max_retries: 3}\n")
    )
    assert options["model"] == Model(name="churn", version="production")
    assert options["steps"]["a"]["retry"] == StepRetryConfig(max_retries=3)


def test_an_empty_file_changes_nothing(tmp_path):
    configured = cp.simple_ml_pipeline.with_options(config_path=_yaml(tmp_path, "# nothing\n"))
    assert configured.compile(dataset_name="x")["parameters"] == {"dataset_name": "x"}


# --- the file's checks: the key, the file and the line ------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "enable_cache: False\nenable_cahce: True\n",
            r"Unknown configuration key 'enable_cahce' in .*config\.yaml, line 2",
        ),
        (
            "steps:\n  load_data:\n    enabel_cache: no\n",
            r"'steps\.load_data\.enabel_cache' in .*, line 3; a step takes",
        ),
        ("enable_cache: maybe\n", r"'enable_cache' in .*, line 1 must be true or false, got 'maybe'"),
        ("tags: nightly-and-more: 1\n", r"not valid YAML"),
        ("tags: [1, 2]\n", r"'tags' in .*, line 1 must be a list of non-empty strings"),
        ("parameters: [1, 2]\n", r"'parameters' in .*, line 1 must be a mapping, got list"),
        ("steps:\n  load_data: 3\n", r"'steps\.load_data' in .*, line 2 must be a mapping"),
        (
            "steps:\n  load_data:\n    retry: {tries: 3}\n",
            r"'steps\.load_data\.retry' in .*, line 3 must be \{max_retries",
        ),
        ("model: {name: m, save_models_to_registry: true}\n", r"'model' in .*line 1 takes the keys name, version"),
        (
            "settings:\n  orchestrator.kubernetes: {}\n",
            r"setting 'settings\.orchestrator\.kubernetes' in .*, line 2 means nothing",
        ),
        (
            "steps:\n  load_data:\n    experiment_tracker: mlflow\n",
            r"'steps\.load_data\.experiment_tracker' in .*, line 3 means nothing here",
        ),
        ("build: dcd6fafb\n", r"'build' in .*line 1 means nothing here: there are no Docker builds"),
        ("enable_step_logs: False\n", r"'enable_step_logs' in .*line 1 can only be True here"),
        ("- a\n- b\n", r"must hold a mapping of keys"),
    ],
)
def test_a_bad_file_is_refused_naming_the_key_file_and_line(tmp_path, text, expected):
    with pytest.raises(PipelineDefinitionError, match=expected):
        cp.simple_ml_pipeline.with_options(config_path=_yaml(tmp_path, text))


def test_an_unknown_step_name_in_the_file_is_refused_listing_the_pipelines_steps(tmp_path):
    configured = cp.simple_ml_pipeline.with_options(
        config_path=_yaml(tmp_path, "steps:\n  load_dta:\n    enable_cache: false\n")
    )
    with pytest.raises(PipelineDefinitionError, match=r"names the step\(s\) load_dta, .* its steps are: load_data"):
        configured.compile(dataset_name="x")


def test_a_file_parameter_the_pipeline_does_not_take_is_refused(tmp_path):
    with pytest.raises(PipelineDefinitionError, match=r"parameter\(s\) datset_name of pipeline 'simple_ml_pipeline'"):
        cp.simple_ml_pipeline.with_options(config_path=_yaml(tmp_path, "parameters: {datset_name: x}\n"))


def test_a_file_step_parameter_the_step_does_not_take_is_refused(tmp_path):
    configured = cp.simple_ml_pipeline.with_options(
        config_path=_yaml(tmp_path, "steps:\n  load_data:\n    parameters: {nope: 1}\n")
    )
    with pytest.raises(PipelineDefinitionError, match=r"parameter\(s\) nope of step 'load_data'"):
        configured.compile(dataset_name="x")


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(PipelineDefinitionError, match=r"Cannot read the configuration file .*nowhere\.yaml"):
        cp.simple_ml_pipeline.with_options(config_path=str(tmp_path / "nowhere.yaml"))


# --- with_options / configure on pipelines ---------------------------------------
def test_pipeline_with_options_takes_zenmls_keywords():
    configured = cp.simple_ml_pipeline.with_options(
        run_name="custom-{date}",
        enable_cache=False,
        tags=["a"],
        model=Model(name="churn"),
        extra={"k": "v"},
        settings={"resources": {"cpu_count": 4}},
        parameters={"dataset_name": "from-options"},
        steps={"load_data": {"enable_cache": True, "parameters": {"dataset_name": "from-options"}}},
    )
    spec = configured.compile()

    assert spec["run_name_template"] == "custom-{date}"
    assert spec["enable_cache"] is False
    assert spec["tags"] == ["a"]
    assert spec["model"]["name"] == "churn"
    assert spec["extra"] == {"k": "v"}
    assert spec["settings"] == {"resources": {"cpu_count": 4}}
    assert _steps(spec)["load_data"]["enable_cache"] is True
    assert "tags" not in cp.simple_ml_pipeline.compile(dataset_name="x")


def test_the_docs_configure_example_stores_docker_settings():
    configured = cp.simple_ml_pipeline.with_options()
    configured.configure(
        enable_cache=False,
        enable_artifact_metadata=True,
        settings={"docker": {"parent_image": "zenml-io/zenml-cuda:latest"}},
    )
    assert configured.compile(dataset_name="x")["settings"] == {
        "docker": {"parent_image": "zenml-io/zenml-cuda:latest"}
    }


def test_docker_environment_values_are_not_stored_only_their_names_with_a_warning():
    """They change nothing here, are shown to every reader of the run, and are often credentials."""
    from pipelines.config import DockerSettings

    with pytest.warns(UserWarning, match="values of environment are not stored"):
        configured = cp.simple_ml_pipeline.with_options(
            settings={"docker": DockerSettings(environment={"AWS_SECRET_ACCESS_KEY": "s3cr3t"}, requirements=["torch"])}
        )
    spec = configured.compile(dataset_name="x")

    assert spec["settings"]["docker"] == {
        "environment": {"AWS_SECRET_ACCESS_KEY": "(not stored)"},
        "requirements": ["torch"],
    }
    assert "s3cr3t" not in repr(spec)


def test_settings_objects_are_stored_as_their_fields():
    @dataclasses.dataclass
    class ResourceSettings:
        cpu_count: int | None = None
        memory: str | None = None

    configured = cp.simple_ml_pipeline.with_options(settings={"resources": ResourceSettings(cpu_count=2)})
    assert configured.settings == {"resources": {"cpu_count": 2}}


def test_pipeline_with_options_refuses_what_means_nothing_here():
    with pytest.raises(PipelineDefinitionError, match=r"does not take enable_cahce; it takes: .*enable_cache"):
        cp.simple_ml_pipeline.with_options(enable_cahce=False)
    with pytest.raises(PipelineDefinitionError, match="'build' means nothing here"):
        cp.simple_ml_pipeline.with_options(build="abc")
    with pytest.raises(PipelineDefinitionError, match="must be true or false"):
        cp.simple_ml_pipeline.with_options(enable_cache="no")


def test_tags_from_the_decorator_and_with_options_add_up_as_zenmls(tmp_path):
    configured = cp.tagged_pipeline.with_options(tags=["tag_on_with_options"])
    assert configured.compile()["tags"] == ["tag_on_decorator", "tag_on_with_options"]
    from_file = configured.with_options(config_path=_yaml(tmp_path, "tags: [from_yaml, tag_on_decorator]\n"))
    assert from_file.compile()["tags"] == ["tag_on_decorator", "tag_on_with_options", "from_yaml"]
    replaced = configured.with_options(tags=["only"], merge=False)
    assert replaced.compile()["tags"] == ["only"]


# --- with_options / configure on steps --------------------------------------------
def test_step_with_options_parameters_fill_the_call():
    configured = cp.trainer.with_options(parameters={"gamma": 0.5})
    assert configured.parameters == {"gamma": 0.5}
    assert cp.trainer.parameters == {}


def test_step_with_options_takes_zenmls_mappings_and_hook_sources():
    configured = cp.trainer.with_options(
        retry={"max_retries": 2},
        model={"name": "churn"},
        settings={"resources": {"gpu_count": 1}},
        extra={"a": 1},
        failure_hook_source="tests.unit.pipelines.sdk.config_pipelines:quiet_hook",
    )
    assert configured.retry == StepRetryConfig(max_retries=2)
    assert configured.model == Model(name="churn")
    assert configured.settings == {"resources": {"gpu_count": 1}}
    assert configured.hook_specs["on_failure"] == "tests.unit.pipelines.sdk.config_pipelines:quiet_hook"
    merged = configured.with_options(extra={"b": 2})
    assert merged.extra == {"a": 1, "b": 2}
    assert configured.with_options(extra={"b": 2}, merge=False).extra == {"b": 2}


def test_step_configure_changes_the_step_in_place():
    step = cp.trainer.with_options()
    assert step.configure(enable_cache=False) is step
    assert step.enable_cache is False


def test_step_with_options_refuses_stack_components_and_unknown_keywords():
    with pytest.raises(PipelineDefinitionError, match="'experiment_tracker' means nothing here"):
        cp.trainer.with_options(experiment_tracker="mlflow")
    with pytest.raises(PipelineDefinitionError, match="'step_operator' means nothing here"):
        cp.trainer.with_options(step_operator="vertex")
    with pytest.raises(PipelineDefinitionError, match="does not take enabel_cache"):
        cp.trainer.with_options(enabel_cache=False)
    with pytest.raises(PipelineDefinitionError, match=r"parameter\(s\) delta of step 'trainer'"):
        cp.trainer.with_options(parameters={"delta": 1})


# --- get_pipeline_context --------------------------------------------------------
def test_the_docs_get_pipeline_context_example_shapes_the_dag_from_extra():
    spec = cp.hp_pipeline.compile()
    steps = _steps(spec)
    assert set(steps) == {"hp_tuning_search_0", "hp_tuning_search_1", "select_best_model"}
    assert steps["hp_tuning_search_1"]["parameters"] == {
        "model_package": "sklearn.ensemble",
        "model_class": "RandomForestClassifier",
    }
    assert steps["select_best_model"]["after"] == ["hp_tuning_search_0", "hp_tuning_search_1"]


def test_the_pipeline_context_holds_the_configuration_of_this_call(tmp_path):
    cp.SEEN_CONTEXTS.clear()
    model = Model(name="churn", version="production")
    configured = cp.tagged_pipeline.with_options(
        config_path=_yaml(tmp_path, "extra: {source: yaml}\nenable_cache: false\n"), model=model
    )
    configured.compile()
    # The body may be traced more than once (the parameter trace); each saw the same context.
    context = cp.SEEN_CONTEXTS[0]
    assert all(seen == context for seen in cp.SEEN_CONTEXTS)
    assert context.name == "tagged_pipeline"
    assert context.extra == {"source": "yaml"}
    assert context.enable_cache is False
    assert context.model is model
    assert context.tags == ["tag_on_decorator"]


def test_get_pipeline_context_outside_a_pipeline_body_is_a_runtime_error():
    with pytest.raises(PipelineContextError, match="only inside a @pipeline function"):
        get_pipeline_context()
    with pytest.raises(RuntimeError):
        get_pipeline_context()


@pytest.mark.filterwarnings("ignore:No materializer is registered")  # the example's pickled estimator
def test_the_configured_training_examples_yaml_configures_its_pipeline():
    from examples import configured_training as example

    spec = example.configured_training.with_options(config_path=str(example.CONFIG)).compile()

    assert spec["parameters"] == {"test_size": 0.3}
    assert spec["tags"] == ["example", "configured-by-yaml"]
    assert spec["model"]["name"] == example.MODEL_NAME
    assert _steps(spec)["train"]["parameters"] == {"c": 0.5}
    assert _steps(spec)["train"]["on_failure"] == {
        "source": "pipelines.hooks:alerter_failure_hook",
        "kwargs": {"secret_name": "slack_webhook"},
    }
    assert _steps(spec)["train"]["on_success"] == "examples.configured_training:announce_success"


def test_the_docs_with_options_parameters_inside_a_pipeline_body_configure_that_invocation():
    spec = cp.configured_in_body.compile()
    assert _steps(spec)["trainer"]["parameters"] == {"gamma": 0.7}
    assert cp.trainer.parameters == {}


def test_a_pipeline_keyword_given_as_none_changes_nothing():
    configured = cp.tagged_pipeline.with_options(enable_cache=False, run_name="x-{time}")
    again = configured.with_options(enable_cache=None, run_name=None, on_failure=None, tags=None, wait=None)
    assert again.enable_cache is False
    assert again.run_name_template == "x-{time}"
    assert again.tags == ["tag_on_decorator"]


def test_the_docs_autogenerated_template_round_trips(tmp_path):
    # ZenML's "Autogenerate a template yaml file": write it, edit it, run with it.
    path = tmp_path / "template.yaml"
    configured = cp.simple_ml_pipeline.with_options(tags=["t"], steps={"load_data": {"retry": {"max_retries": 2}}})
    configured.write_run_configuration_template(path=str(path), dataset_name="from-call")

    text = path.read_text()
    assert text.startswith("# The run configuration of pipeline 'simple_ml_pipeline'")
    loaded = load_run_config(path)
    assert loaded["parameters"] == {"dataset_name": "from-call"}
    assert loaded["tags"] == ["t"]
    assert loaded["steps"]["load_data"]["retry"] == StepRetryConfig(max_retries=2)
    assert loaded["steps"]["load_data"]["parameters"] == {}  # it follows the pipeline's parameter
    path.write_text(text.replace("from-call", "edited"))
    spec = cp.simple_ml_pipeline.with_options(config_path=str(path)).compile()
    assert spec["parameters"] == {"dataset_name": "edited"}
    assert _steps(spec)["load_data"]["parameters"] == {"dataset_name": "edited"}


def test_the_docs_configuration_hierarchy_merges_step_settings_over_the_pipelines():
    spec = cp.hierarchy_pipeline.compile(parameter=1)
    assert _steps(spec)["train_model"]["settings"] == {"resources": {"cpu_count": 2, "gpu_count": 1, "memory": "2GB"}}
    assert _steps(spec)["load_data"]["settings"] == {"resources": {"cpu_count": 2, "memory": "1GB"}}
    assert spec["settings"] == {"resources": {"cpu_count": 2, "memory": "1GB"}}


def test_settings_classes_refuse_unknown_fields():
    from pipelines.sdk.settings import ResourceSettings

    with pytest.raises(PipelineDefinitionError, match="ResourceSettings does not take gpus"):
        ResourceSettings(gpus=1)


# --- ZenML's Tag(name=..., exclusive=True) -------------------------------------------
def test_tags_may_be_tag_objects_or_mappings_in_a_file(tmp_path):
    from pipelines import Tag

    configured = cp.tagged_pipeline.with_options(tags=["training", Tag(name="latest", exclusive=True)])
    spec = configured.compile()
    assert spec["tags"] == ["tag_on_decorator", "training", "latest"]
    assert spec["exclusive_tags"] == ["latest"]

    from_file = cp.tagged_pipeline.with_options(
        config_path=_yaml(tmp_path, "tags:\n  - plain\n  - {name: champion, exclusive: true}\n")
    )
    assert from_file.compile()["exclusive_tags"] == ["champion"]
    assert "exclusive_tags" not in cp.tagged_pipeline.compile()


def test_a_tag_with_options_zenml_has_but_that_mean_nothing_here_is_refused(tmp_path):
    from pipelines import Tag

    with pytest.raises(PipelineDefinitionError, match=r"cascade=True .* is not supported here"):
        Tag(name="x", cascade=True)
    with pytest.raises(PipelineDefinitionError, match=r"'tags' in .*line 1: a tag given as a mapping takes name"):
        cp.tagged_pipeline.with_options(config_path=_yaml(tmp_path, "tags: [{name: x, colour: red}]\n"))
