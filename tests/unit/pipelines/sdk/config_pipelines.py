"""Steps and pipelines the configuration tests compile (module level: a step's source
path is `module:qualname`). Several are ZenML's documentation snippets, ported."""

from __future__ import annotations

from pipelines import get_pipeline_context, pipeline, step
from pipelines.sdk.settings import ResourceSettings


@step
def load_data(dataset_name: str) -> dict:
    return {"name": dataset_name}


@pipeline
def simple_ml_pipeline(dataset_name: str):
    load_data(dataset_name)


@step
def my_step(input_1: int, input_2: int) -> None:
    pass


@pipeline
def my_pipeline(environment: str):
    my_step(input_1=1)


@pipeline
def conflicting_pipeline(some_param: int):
    my_step(input_1=42, input_2=43)


@step
def assert_input_params(bar: str) -> None:
    assert bar == "bar"


@step
def assert_input_params_with_defaults(
    bar: str, foo: str = "some default value", this_will_be_default: str = "bar"
) -> None:
    pass


@pipeline(enable_cache=True)
def assert_input_params_pipe(foo: str):
    assert_input_params(bar=foo)


@pipeline(enable_cache=False)
def defaults_pipe():
    assert_input_params_with_defaults()


@step
def trainer(gamma: float) -> float:
    return gamma


@pipeline
def gamma_pipeline(gamma: float):
    trainer(gamma=gamma)


@step
def cross_validation(model_package: str, model_class: str) -> float:
    return 0.5


@step
def select_best_model(search_steps_prefix: str) -> None:
    pass


@pipeline(
    extra={
        "complex_parameter": [
            ("sklearn.tree", "DecisionTreeClassifier"),
            ("sklearn.ensemble", "RandomForestClassifier"),
        ]
    }
)
def hp_pipeline():
    context = get_pipeline_context()
    after = []
    search_steps_prefix = "hp_tuning_search_"
    for i, model_search_configuration in enumerate(context.extra["complex_parameter"]):
        step_name = f"{search_steps_prefix}{i}"
        cross_validation(
            model_package=model_search_configuration[0], model_class=model_search_configuration[1], id=step_name
        )
        after.append(step_name)
    select_best_model(search_steps_prefix=search_steps_prefix, after=after)


SEEN_CONTEXTS: list = []


@pipeline(tags=["tag_on_decorator"])
def tagged_pipeline():
    SEEN_CONTEXTS.append(get_pipeline_context())
    trainer(gamma=0.1)


@pipeline
def twice_pipeline():
    trainer(gamma=0.1)
    trainer(gamma=0.2)


def quiet_hook() -> None:
    """A hook the configuration names by source path."""


@pipeline
def configured_in_body():
    # ZenML's "Understanding .configure() vs .with_options()" snippet, ported.
    trainer.with_options(parameters={"gamma": 0.7})()


# ZenML's "Configuration hierarchy" snippet, ported.
@step(settings={"resources": ResourceSettings(gpu_count=1, memory="2GB")})
def train_model(data: dict) -> None:
    pass


@pipeline(settings={"resources": ResourceSettings(cpu_count=2, memory="1GB")})
def hierarchy_pipeline(parameter: int):
    train_model(load_data(dataset_name="x"))
