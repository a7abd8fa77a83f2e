"""A run configuration as ZenML's: the YAML file of `with_options(config_path=...)`
and the keywords of `with_options` / `configure`, checked the same way.

    enable_cache: False
    run_name: "training-{date}-{time}"
    tags: ["nightly"]
    parameters: {dataset_name: "best_dataset"}     # the pipeline function's arguments
    extra: {any_key: 1}
    model: {name: "classifier", version: "production"}
    settings: {resources: {cpu_count: 2}}          # stored; see SETTINGS_WITHOUT_EFFECT
    schedule: {cron_expression: "0 3 * * *"}
    steps:
      train_model:                                 # the step's invocation id
        parameters: {learning_rate: 0.001}
        enable_cache: True
        retry: {max_retries: 2, delay: 5}
        extra: {...}
        model: {...}
        settings: {...}
        failure_hook_source: "my_hooks:notify"

A bad key, a wrong type or a key that means nothing here is a
`PipelineDefinitionError` naming the key, the file and its line.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.model import Model
from pipelines.sdk.retry import StepRetryConfig
from pipelines.sdk.run_tags import Tag, merge_tags, tag_names


class ConfigurationConflictError(PipelineDefinitionError, RuntimeError):
    """A parameter set in the configuration and passed in code with another value.

    A RuntimeError too, as ZenML's ("Configured parameter for the step ... conflict
    with parameter passed in runtime"), so code written for it catches it."""


# ZenML's boolean flags this server always honours as True: True is accepted (it
# changes nothing), False is refused with why.
ALWAYS_ON_FLAGS = {
    "enable_step_logs": "a step's log output is always captured and stored",
    "enable_artifact_metadata": "materializers' metadata is always extracted and stored",
    "enable_artifact_visualization": "materializers' visualizations are always saved",
}
# ZenML keys that name a stack component or a Docker build: there are no stacks here.
MEANINGLESS = {
    "build": "there are no Docker builds here: workers run the code they have",
    "experiment_tracker": "there are no stack components here (log metrics with log_metadata)",
    "step_operator": "there are no step operators here: send the step to a queue (queue=) its workers consume",
    "stack": "there are no stacks here",
    "substitutions": "run names take the placeholders {pipeline}, {date} and {time} only",
    "unlisted": "every run belongs to its pipeline here",
    "prevent_build_reuse": "there are no Docker builds here",
    "enable_pipeline_logs": "the pipeline body runs in your process; step logs are always stored",
}
# Settings keys accepted and stored with the run (the run's config), without effect.
SETTINGS_WITHOUT_EFFECT = {
    "resources": "a step's worker is chosen by its queue (queue=); start workers with -Q for each resource class",
    "docker": "workers run the code checkout they have; nothing is built",
}

PIPELINE_KEYS = (
    "parameters",
    "steps",
    "enable_cache",
    "run_name",
    "tags",
    "model",
    "extra",
    "settings",
    "schedule",
    "on_failure",
    "on_success",
    "failure_hook_source",
    "success_hook_source",
    "queue",
    *ALWAYS_ON_FLAGS,
)
STEP_KEYS = (
    "parameters",
    "enable_cache",
    "settings",
    "extra",
    "model",
    "retry",
    "queue",
    "timeout",
    "outputs",
    "on_failure",
    "on_success",
    "failure_hook_source",
    "success_hook_source",
    *ALWAYS_ON_FLAGS,
)
# ZenML's names for the hooks in a configuration file.
HOOK_ALIASES = {"failure_hook_source": "on_failure", "success_hook_source": "on_success"}


@dataclasses.dataclass
class Where:
    """Names a key for an error: its dotted path, and the file and line when from YAML."""

    file: str | None = None
    lines: dict[tuple[str, ...], int] = dataclasses.field(default_factory=dict)
    # What the keys belong to when not from a file ("step 'train': ").
    prefix: str = ""

    def __call__(self, *path: str) -> str:
        key = ".".join(path)
        if self.file is None:
            return f"{self.prefix}{key!r}"
        line = self.lines.get(tuple(path))
        return f"{key!r} in {self.file}" + (f", line {line}" if line else "")


def load_run_config(path: str | Path) -> dict[str, Any]:
    """Read and check a YAML run configuration; return it as `configure` keywords."""
    import yaml

    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise PipelineDefinitionError(f"Cannot read the configuration file {str(path)!r}: {exc.strerror}.") from None
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise PipelineDefinitionError(f"The configuration file {str(path)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PipelineDefinitionError(
            f"The configuration file {str(path)!r} must hold a mapping of keys (enable_cache:, parameters:, "
            f"steps:, ...), got a {type(data).__name__}."
        )
    lines: dict[tuple[str, ...], int] = {}
    _key_lines(root, (), lines)
    return check_pipeline_options(data, Where(file=str(path), lines=lines))


def _key_lines(node: Any, path: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = (*path, str(key_node.value))
            lines[key_path] = key_node.start_mark.line + 1
            _key_lines(value_node, key_path, lines)


def check_pipeline_options(options: dict[str, Any], where: Where | None = None) -> dict[str, Any]:
    """The pipeline's options (YAML or keywords), checked and turned into objects:
    `model` a Model, hooks their `on_failure` / `on_success` names, each step's too."""
    where = where or Where()
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if not isinstance(key, str):
            raise PipelineDefinitionError(f"The key {key!r} must be a string.")
        _refuse_meaningless(key, value, where, key)
        if key not in PIPELINE_KEYS:
            raise PipelineDefinitionError(
                f"Unknown configuration key {where(key)}; a pipeline takes: {', '.join(PIPELINE_KEYS)}."
            )
        if key in ALWAYS_ON_FLAGS:
            continue
        if key == "steps":
            steps = _mapping(value, where, key)
            checked["steps"] = {}
            for name, step_options in steps.items():
                checked["steps"][str(name)] = check_step_options(
                    _mapping(step_options, where, key, str(name)), where, ("steps", str(name))
                )
            continue
        name, checked_value = _check_common(key, value, where, (key,))
        checked[name] = checked_value
    return checked


def check_step_options(
    options: dict[str, Any], where: Where | None = None, path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A step's options from a configuration (`steps.<name>:` or `with_options(steps=...)`)."""
    where = where or Where()
    checked: dict[str, Any] = {}
    for key, value in options.items():
        _refuse_meaningless(key, value, where, *path, key)
        if key not in STEP_KEYS:
            raise PipelineDefinitionError(
                f"Unknown configuration key {where(*path, key)}; a step takes: {', '.join(STEP_KEYS)}."
            )
        if key in ALWAYS_ON_FLAGS:
            continue
        if key == "retry":
            retry = value
            if not isinstance(retry, StepRetryConfig):
                fields = _mapping(value, where, *path, key)
                try:
                    retry = StepRetryConfig(**fields)
                except (TypeError, PipelineDefinitionError) as exc:
                    raise PipelineDefinitionError(
                        f"{where(*path, key)} must be {{max_retries: int, delay: seconds, backoff: factor}}: {exc}"
                    ) from None
            checked["retry"] = retry
            continue
        if key == "outputs":
            checked["output_materializers"] = _output_materializers(value, where, (*path, key))
            continue
        if key == "timeout" and value is not None:
            checked["timeout"] = value
            continue
        name, checked_value = _check_common(key, value, where, (*path, key))
        checked[name] = checked_value
    if not checked.get("output_materializers"):
        checked.pop("output_materializers", None)
    return checked


def _refuse_meaningless(key: str, value: Any, where: Where, *path: str) -> None:
    if key in MEANINGLESS:
        raise PipelineDefinitionError(
            f"The configuration key {where(*path)} means nothing here: {MEANINGLESS[key]}. Remove it."
        )
    if key in ALWAYS_ON_FLAGS and value is not True:
        raise PipelineDefinitionError(
            f"{where(*path)} can only be True here ({ALWAYS_ON_FLAGS[key]}); remove the key or set it to True."
        )


def _check_common(key: str, value: Any, where: Where, path: tuple[str, ...]) -> tuple[str, Any]:
    """Keys a pipeline and a step share; returns the keyword's name and its value."""
    if key in HOOK_ALIASES:
        if not isinstance(value, str):
            raise PipelineDefinitionError(f"{where(*path)} must be a source path string ('module.path:function').")
        return HOOK_ALIASES[key], value
    checks: dict[str, Callable[[Any], Any]] = {
        "parameters": lambda v: _json_mapping(v, where, path),
        "extra": lambda v: _json_mapping(v, where, path),
        "settings": lambda v: check_settings(v, where, path),
        "enable_cache": lambda v: _boolean(v, where, path),
        "run_name": lambda v: _string(v, where, path),
        "queue": lambda v: _string(v, where, path),
        "tags": lambda v: check_tags(v, where, path),
        "model": lambda v: check_model(v, where, path),
        "schedule": lambda v: v,
        "on_failure": lambda v: v,
        "on_success": lambda v: v,
    }
    return key, checks[key](value)


def _mapping(value: Any, where: Where, *path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PipelineDefinitionError(f"{where(*path)} must be a mapping, got {type(value).__name__} {value!r}.")
    return value


def _json_mapping(value: Any, where: Where, path: tuple[str, ...]) -> dict[str, Any]:
    mapping = _mapping(value, where, *path)
    try:
        json.dumps(mapping, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PipelineDefinitionError(f"{where(*path)} must hold JSON values only ({exc}).") from None
    return dict(mapping)


def _boolean(value: Any, where: Where, path: tuple[str, ...]) -> bool:
    if not isinstance(value, bool):
        raise PipelineDefinitionError(f"{where(*path)} must be true or false, got {value!r}.")
    return value


def _string(value: Any, where: Where, path: tuple[str, ...]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PipelineDefinitionError(f"{where(*path)} must be a non-empty string, got {value!r}.")
    return value


MAX_TAGS = 100
MAX_TAG_LENGTH = 100


def check_tags(value: Any, where: Where | None = None, path: tuple[str, ...] = ("tags",)) -> list[str | Tag]:
    """A run's tags, in order, each name once: strings, `Tag` objects, or (in a file)
    mappings of a Tag's fields (`{name: latest, exclusive: true}`); one string is one tag."""
    where = where or Where()
    items = [value] if isinstance(value, str | Tag) else value
    if not isinstance(items, list | tuple):
        raise PipelineDefinitionError(f"{where(*path)} must be a list of non-empty strings, got {value!r}.")
    tags: list[str | Tag] = []
    for item in items:
        if isinstance(item, dict):
            try:
                item = Tag(**item)
            except TypeError:
                raise PipelineDefinitionError(
                    f"{where(*path)}: a tag given as a mapping takes name, exclusive, color and cascade; got {item!r}."
                ) from None
            except PipelineDefinitionError as exc:
                raise PipelineDefinitionError(f"{where(*path)}: {exc}") from None
        if isinstance(item, str) and item.strip():
            item = item.strip()
        elif not isinstance(item, Tag):
            raise PipelineDefinitionError(f"{where(*path)} must be a list of non-empty strings, got {value!r}.")
        tags.append(item)
    tags = merge_tags([], tags)
    if len(tags) > MAX_TAGS or any(len(name) > MAX_TAG_LENGTH for name in tag_names(tags)):
        raise PipelineDefinitionError(
            f"{where(*path)}: a run takes at most {MAX_TAGS} tags of at most {MAX_TAG_LENGTH} characters each."
        )
    return tags


def check_model(value: Any, where: Where | None = None, path: tuple[str, ...] = ("model",)) -> Model:
    where = where or Where()
    if isinstance(value, Model):
        return value
    fields = _mapping(value, where, *path)
    try:
        return Model(**fields)
    except TypeError:
        known = [f.name for f in dataclasses.fields(Model) if not f.name.startswith("_")]
        unknown = sorted(set(fields) - set(known))
        raise PipelineDefinitionError(
            f"{where(*path)} takes the keys {', '.join(known)}; remove {', '.join(map(str, unknown)) or 'the others'}."
        ) from None
    except PipelineDefinitionError as exc:
        raise PipelineDefinitionError(f"{where(*path)}: {exc}") from None


def check_settings(value: Any, where: Where | None = None, path: tuple[str, ...] = ("settings",)) -> dict[str, Any]:
    """Settings as ZenML's (`resources`, `docker`), stored as JSON with the run.

    A settings object (ZenML's pydantic `ResourceSettings`, a dataclass) is stored as
    its fields. Stack component settings (`orchestrator.kubernetes`, ...) are refused."""
    where = where or Where()
    settings = _mapping(value, where, *path)
    stored: dict[str, Any] = {}
    for key, item in settings.items():
        if key not in SETTINGS_WITHOUT_EFFECT:
            raise PipelineDefinitionError(
                f"The setting {where(*path, str(key))} means nothing here (there are no stack components); "
                f"settings take: {', '.join(SETTINGS_WITHOUT_EFFECT)} (stored with the run, without effect)."
            )
        if hasattr(item, "model_dump"):
            item = item.model_dump(exclude_none=True)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            item = {k: v for k, v in dataclasses.asdict(item).items() if v is not None}
        stored[key] = _json_mapping(item, where, (*path, key))
        if key == "docker":
            stored[key] = _without_environment_values(stored[key], where(*path, key))
    return stored


# DockerSettings fields whose values are often credentials. Settings change nothing here
# and are shown to everyone who may read the run, so only their names are kept.
DOCKER_VALUES_NOT_STORED = ("environment", "runtime_environment", "build_args")
NOT_STORED = "(not stored)"


def _without_environment_values(docker: dict[str, Any], where: str) -> dict[str, Any]:
    dropped = [field for field in DOCKER_VALUES_NOT_STORED if isinstance(docker.get(field), dict) and docker[field]]
    if not dropped:
        return docker
    warnings.warn(
        f"{where}: the values of {', '.join(dropped)} are not stored, only their names: settings change "
        "nothing here, and a run shows them to everyone who may read it. Give a step credentials with a "
        "secret (Client().get_secret) instead.",
        UserWarning,
        stacklevel=4,
    )
    return {**docker, **{field: dict.fromkeys(docker[field], NOT_STORED) for field in dropped}}


def _output_materializers(value: Any, where: Where, path: tuple[str, ...]) -> dict[str, type]:
    """ZenML's `outputs: {name: {materializer_source: "module.path:Class"}}`."""
    from pipelines.sdk.source import load_source

    materializers: dict[str, type] = {}
    for output_name, output in _mapping(value, where, *path).items():
        config = _mapping(output, where, *path, str(output_name))
        unknown = sorted(set(config) - {"materializer_source"})
        if unknown:
            raise PipelineDefinitionError(
                f"{where(*path, str(output_name))} takes only materializer_source; remove {', '.join(unknown)}."
            )
        if "materializer_source" not in config:
            continue
        source = str(config["materializer_source"])
        if ":" not in source:  # ZenML writes `module.path.Class`
            module, _, name = source.rpartition(".")
            source = f"{module}:{name}"
        try:
            materializers[str(output_name)] = load_source(source)
        except Exception as exc:
            raise PipelineDefinitionError(
                f"{where(*path, str(output_name), 'materializer_source')}: cannot import {source!r} "
                f"({type(exc).__name__}: {exc})."
            ) from None
    return materializers


def run_config_template(spec: dict[str, Any]) -> str:
    """A YAML run configuration holding what `spec` (a compiled pipeline) was configured with."""
    import yaml

    config: dict[str, Any] = {
        "enable_cache": spec.get("enable_cache", True),
        "run_name": spec.get("run_name_template"),
        "tags": [
            {"name": tag, "exclusive": True} if tag in spec.get("exclusive_tags", []) else tag
            for tag in spec.get("tags", [])
        ],
        "extra": dict(spec.get("extra", {})),
        "settings": dict(spec.get("settings", {})),
        "parameters": dict(spec.get("parameters", {})),
    }
    if spec.get("model"):
        config["model"] = {key: value for key, value in spec["model"].items() if value not in (None, [])}
    steps: dict[str, Any] = {}
    # Arguments the body passes from a pipeline parameter follow `parameters:` above; in
    # `steps:` too they would be a conflict as soon as the parameter is edited.
    bound = spec.get("parameter_bindings") or {}
    for step in spec["steps"]:
        parameters = {k: v for k, v in step.get("parameters", {}).items() if k not in bound.get(step["name"], {})}
        options: dict[str, Any] = {"parameters": parameters, "enable_cache": step["enable_cache"]}
        if step.get("retry"):
            options["retry"] = step["retry"]
        for key in ("extra", "settings"):
            if step.get(key):
                options[key] = step[key]
        if step.get("model"):
            options["model"] = {key: value for key, value in step["model"].items() if value not in (None, [])}
        steps[step["name"]] = options
    config["steps"] = steps
    header = (
        f"# The run configuration of pipeline {spec['pipeline']!r}: edit it and run\n"
        "# my_pipeline.with_options(config_path=...)(). Steps are keyed by invocation id.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
