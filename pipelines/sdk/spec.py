"""The compiled pipeline: the JSON document the SDK posts to `POST /api/v1/runs/`.

The server validates it with the same `validate_spec`, so a hand-written or stale
client gets the same clear messages as the SDK.
"""

from __future__ import annotations

import copy
import hashlib
import json
import string
from graphlib import CycleError, TopologicalSorter
from typing import Any, NotRequired, TypedDict

from pipelines.sdk.exceptions import PipelinesError
from pipelines.sdk.hooks import HOOK_KINDS, hook_spec_problem
from pipelines.sdk.naming import artifact_version_problem, name_problem, source_problem, version_problem
from pipelines.sdk.settings import merged_settings
from pipelines.sdk.step_options import queue_problem, timeout_problem

SPEC_VERSION = 1
DEFAULT_RUN_NAME_TEMPLATE = "{pipeline}-{date}-{time}"
RUN_NAME_PLACEHOLDERS = ("pipeline", "date", "time")
# The server's body limit (DATA_UPLOAD_MAX_MEMORY_SIZE in config/settings/base.py) is
# sized so that a spec of this many steps fits.
MAX_STEPS = 10_000


class InputRef(TypedDict):
    step: str
    output: str


class OutputDecl(TypedDict):
    name: str
    type: str | None
    materializer: str | None


class StepSpec(TypedDict):
    name: str
    source: str
    code_hash: str
    parameters: dict[str, Any]
    inputs: dict[str, InputRef]
    after: list[str]
    outputs: list[OutputDecl]
    enable_cache: bool
    model: NotRequired[dict[str, Any]]
    # The Celery queue the step is sent to; absent: the pipeline's, else the server's.
    queue: NotRequired[str]
    # Seconds the step's function may run before its attempt fails.
    timeout: NotRequired[float]
    # Hooks the worker imports: a source path, or {"source": ..., "kwargs": {...}}.
    on_failure: NotRequired[str | dict[str, Any]]
    on_success: NotRequired[str | dict[str, Any]]


class ParameterDecl(TypedDict):
    """One parameter of the pipeline function, from its signature."""

    name: str
    # A JSON type (PARAMETER_TYPES) from the annotation; None: any JSON value.
    type: str | None
    # The annotation allows None (`int | None`).
    nullable: bool
    # Absent when the parameter has no default (a trigger must then give it).
    default: NotRequired[Any]


class PipelineSpec(TypedDict):
    version: int
    pipeline: str
    pipeline_source: NotRequired[str]
    run_name_template: str
    parameters: dict[str, Any]
    # The pipeline function's parameters: what a run started without the code may set.
    parameter_schema: NotRequired[list[ParameterDecl]]
    # "static": the steps do not depend on the parameters' values, so a new run reuses
    # this spec through `parameter_bindings`; "dynamic": the body shapes the DAG from
    # them, so a new run is compiled again where the code is (a worker).
    dag: NotRequired[str]
    # step name -> {step argument: pipeline parameter it passes through unchanged}.
    parameter_bindings: NotRequired[dict[str, dict[str, str]]]
    source_root: NotRequired[str]
    enable_cache: bool
    steps: list[StepSpec]
    # The queue of the steps that name none.
    queue: NotRequired[str]
    # The run's tags, and ZenML's `extra` / `settings` (stored in the run's config).
    tags: NotRequired[list[str]]
    # Tags only the newest run of the pipeline keeps (ZenML's Tag(exclusive=True)).
    exclusive_tags: NotRequired[list[str]]
    extra: NotRequired[dict[str, Any]]
    settings: NotRequired[dict[str, Any]]


class SpecError(ValueError):
    """The spec cannot run; the message says why and how to fix it."""


class ParameterError(SpecError):
    """A value given for a pipeline parameter does not fit its declaration; `field`
    names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


PARAMETER_TYPES = ("string", "integer", "number", "boolean", "array", "object")
DAG_KINDS = ("static", "dynamic")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SpecError(message)


def _check_name(value: Any, what: str) -> None:
    problem = name_problem(value, what=what)
    _require(problem is None, problem or "")


def _check_step(step: Any, index: int) -> None:
    _require(isinstance(step, dict), f"steps[{index}] must be an object.")
    name = step.get("name")
    _check_name(name, f"steps[{index}].name")
    where = f"step {name!r}"
    problem = source_problem(step.get("source"), what=f"{where}: source")
    _require(problem is None, problem or "")
    _require(isinstance(step.get("code_hash", ""), str), f"{where}: code_hash must be a string.")
    _require(isinstance(step.get("parameters", {}), dict), f"{where}: parameters must be an object.")
    _require(isinstance(step.get("inputs", {}), dict), f"{where}: inputs must be an object.")
    for input_name, ref in step.get("inputs", {}).items():
        _require(
            isinstance(ref, dict) and isinstance(ref.get("step"), str) and isinstance(ref.get("output"), str),
            f"{where}: input {input_name!r} must be {{'step': ..., 'output': ...}}.",
        )
    external = step.get("external_inputs", {})
    _require(
        isinstance(external, dict)
        and all(type(av) is int and 0 < av < 2**63 for av in external.values())
        and not set(external) & set(step.get("inputs", {})),
        f"{where}: external_inputs must map input names that are not in inputs to artifact version ids.",
    )
    _require(
        isinstance(step.get("after", []), list) and all(isinstance(a, str) for a in step.get("after", [])),
        f"{where}: after must be a list of step names.",
    )
    retry = step.get("retry")
    if retry is not None:
        from pipelines.sdk.retry import StepRetryConfig

        try:
            _require(isinstance(retry, dict), "not an object")
            StepRetryConfig(**retry)
        except (TypeError, ValueError, PipelinesError) as exc:
            raise SpecError(
                f"{where}: retry must be {{'max_retries': int, 'delay': seconds, 'backoff': factor}} ({exc})."
            ) from None
    _require(isinstance(step.get("extra") or {}, dict), f"{where}: extra must be an object.")
    for problem in (queue_problem(step.get("queue"), where=where), timeout_problem(step.get("timeout"), where=where)):
        _require(problem is None, problem or "")
    for kind in HOOK_KINDS:
        problem = hook_spec_problem(step.get(kind), what=f"{where}: {kind}")
        _require(problem is None, problem or "")
    outputs = step.get("outputs", [])
    _require(isinstance(outputs, list), f"{where}: outputs must be a list.")
    output_names = []
    for output in outputs:
        _require(isinstance(output, dict), f"{where}: every output must be an object.")
        _check_name(output.get("name"), f"{where}: output name")
        materializer = output.get("materializer")
        _require(
            materializer is None or source_problem(materializer) is None,
            f"{where}: output {output['name']!r} has an invalid materializer {materializer!r}.",
        )
        artifact = output.get("artifact")
        if artifact is not None:
            version = artifact.get("version") if isinstance(artifact, dict) else None
            problem = None if version is None else artifact_version_problem(version)
            _require(problem is None, f"{where}: output {output['name']!r} has an invalid artifact setting: {problem}")
            _require(
                isinstance(artifact, dict)
                and isinstance(artifact.get("tags", []), list)
                and all(isinstance(tag, str) for tag in artifact.get("tags", [])),
                f"{where}: output {output['name']!r} has an invalid artifact setting {artifact!r}.",
            )
        output_names.append(output["name"])
    duplicates = sorted({n for n in output_names if output_names.count(n) > 1})
    _require(not duplicates, f"{where}: duplicate output name(s) {', '.join(duplicates)}.")


def _check_model(model: Any, where: str) -> None:
    if model is None:
        return
    shape = f"{where} must be {{'name': ..., 'version': None or a name, 'tags': [...]}}, got {model!r}."
    _require(isinstance(model, dict) and isinstance(model.get("tags") or [], list), shape)
    _check_name(model.get("name"), f"{where} name")
    if model.get("version") is not None:
        # A model version may be a number: it names an existing version by number.
        problem = version_problem(model["version"], what=f"{where} version")
        _require(problem is None, problem or "")


def validate_spec(spec: Any) -> PipelineSpec:
    """Check a spec's shape and graph; return it with defaults filled in."""
    _require(isinstance(spec, dict), "The run spec must be a JSON object.")
    _require(
        spec.get("version", SPEC_VERSION) == SPEC_VERSION,
        f"This server understands spec version {SPEC_VERSION}, got {spec.get('version')!r}; "
        "upgrade the SDK or the server so that they match.",
    )
    _check_name(spec.get("pipeline"), "pipeline")
    template = spec.get("run_name_template") or DEFAULT_RUN_NAME_TEMPLATE
    _require(isinstance(template, str) and len(template) <= 200, "run_name_template must be a string.")
    try:
        # Only bare names: `{pipeline.x}` or `{pipeline[0]}` would reach into the value.
        fields = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
        if not fields <= set(RUN_NAME_PLACEHOLDERS):
            raise KeyError(fields)
        template.format(**dict.fromkeys(RUN_NAME_PLACEHOLDERS, "x"))
    except (KeyError, IndexError, ValueError, AttributeError, TypeError):
        raise SpecError(
            f"run_name_template {template!r} may only use the placeholders "
            + ", ".join("{" + key + "}" for key in RUN_NAME_PLACEHOLDERS)
            + "."
        ) from None
    parameters = spec.get("parameters", {})
    _require(isinstance(parameters, dict), "parameters must be an object.")
    problem = queue_problem(spec.get("queue"), where=f"pipeline {spec['pipeline']!r}")
    _require(problem is None, problem or "")
    steps = spec.get("steps")
    _require(isinstance(steps, list) and len(steps) > 0, "A pipeline needs at least one step.")
    _require(len(steps) <= MAX_STEPS, f"A pipeline may have at most {MAX_STEPS:,} steps.")
    for index, step in enumerate(steps):
        _check_step(step, index)

    by_name = {step["name"]: step for step in steps}
    _require(len(by_name) == len(steps), "Two steps share a name; every step name must be unique.")
    graph: dict[str, set[str]] = {}
    for step in steps:
        upstream = set(step.get("after", []))
        for input_name, ref in step.get("inputs", {}).items():
            producer = by_name.get(ref["step"])
            _require(
                producer is not None,
                f"Step {step['name']!r} takes input {input_name!r} from {ref['step']!r}, "
                "which is not a step of this pipeline.",
            )
            produced = [output["name"] for output in producer.get("outputs", [])]
            _require(
                ref["output"] in produced,
                f"Step {step['name']!r} takes input {input_name!r} from output "
                f"{ref['output']!r} of {ref['step']!r}, whose outputs are: "
                f"{', '.join(produced) or 'none'}.",
            )
            upstream.add(ref["step"])
        for name in step.get("after", []):
            _require(
                name in by_name, f"Step {step['name']!r} runs after {name!r}, which is not a step of this pipeline."
            )
        overlap = (set(step.get("inputs", {})) | set(step.get("external_inputs", {}))) & set(step.get("parameters", {}))
        _require(not overlap, f"Step {step['name']!r} gets {', '.join(sorted(overlap))} both as input and parameter.")
        graph[step["name"]] = upstream
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise SpecError(f"The steps form a cycle ({cycle}); a pipeline must be acyclic.") from None

    try:
        json.dumps(spec, allow_nan=False)
    except ValueError:
        raise SpecError("The spec holds NaN or infinity, which JSON cannot carry.") from None

    _check_model(spec.get("model"), "model")
    for step in steps:
        _check_model(step.get("model"), f"step {step['name']!r}: model")
        _require(isinstance(step.get("settings") or {}, dict), f"step {step['name']!r}: settings must be an object.")
    _check_run_options(spec)
    _check_parameter_schema(spec, by_name)

    normalized = dict(spec)
    normalized["version"] = SPEC_VERSION
    normalized["run_name_template"] = template
    normalized["parameters"] = parameters
    normalized["enable_cache"] = bool(spec.get("enable_cache", True))
    if "parameter_bindings" in spec:
        normalized["parameter_bindings"] = _applicable_bindings(spec, by_name)
    normalized["steps"] = [
        {
            "name": step["name"],
            "source": step["source"],
            "code_hash": step.get("code_hash", ""),
            "parameters": step.get("parameters", {}),
            "inputs": step.get("inputs", {}),
            # Existing artifact versions as inputs (ExternalArtifact): name -> id.
            **({"external_inputs": step["external_inputs"]} if step.get("external_inputs") else {}),
            "after": step.get("after", []),
            "outputs": [
                {
                    "name": o["name"],
                    "type": o.get("type"),
                    "materializer": o.get("materializer"),
                    **({"artifact": o["artifact"]} if o.get("artifact") else {}),
                }
                for o in step.get("outputs", [])
            ],
            "enable_cache": bool(step.get("enable_cache", normalized["enable_cache"])),
            "retry": step.get("retry"),
            "extra": step.get("extra") or {},
            **({"model": step["model"]} if step.get("model") else {}),
            **({"queue": step.get("queue") or spec["queue"]} if step.get("queue") or spec.get("queue") else {}),
            **({"timeout": float(step["timeout"])} if step.get("timeout") is not None else {}),
            **({"settings": step["settings"]} if step.get("settings") else {}),
            **{kind: step[kind] for kind in HOOK_KINDS if step.get(kind)},
        }
        for step in steps
    ]
    return normalized  # type: ignore[return-value]


def _check_run_options(spec: dict[str, Any]) -> None:
    """The run's tags (distinct strings), `extra` and `settings` (objects), as the run
    configuration gives them (`pipelines.sdk.run_config`)."""
    tags = spec.get("tags", [])
    _require(
        isinstance(tags, list)
        and len(tags) <= 100
        and all(isinstance(tag, str) and 0 < len(tag.strip()) <= 100 for tag in tags)
        and len(set(tags)) == len(tags),
        "tags must be a list of at most 100 distinct non-empty strings of at most 100 characters.",
    )
    exclusive = spec.get("exclusive_tags", [])
    _require(
        isinstance(exclusive, list) and all(isinstance(tag, str) and tag in tags for tag in exclusive),
        "exclusive_tags must be a list of the run's tags (Tag(name=..., exclusive=True)).",
    )
    for key in ("extra", "settings"):
        _require(isinstance(spec.get(key, {}), dict), f"{key} must be an object.")


def upstream_of(step: StepSpec) -> set[str]:
    return {ref["step"] for ref in step["inputs"].values()} | set(step["after"])


def _check_parameter_schema(spec: dict[str, Any], steps_by_name: dict[str, Any]) -> None:
    """The optional keys of specs compiled since parameters were declared; older
    specs (without them) stay valid and can only be re-run as they are."""
    schema = spec.get("parameter_schema")
    if schema is None:
        _require(spec.get("parameter_bindings") is None, "parameter_bindings needs a parameter_schema.")
        return
    _require(isinstance(schema, list), "parameter_schema must be a list of {'name', 'type', 'nullable', 'default'}.")
    names = []
    for index, decl in enumerate(schema):
        where = f"parameter_schema[{index}]"
        _require(isinstance(decl, dict) and isinstance(decl.get("name"), str), f"{where} must name a parameter.")
        _require(
            decl.get("type") is None or decl.get("type") in PARAMETER_TYPES,
            f"{where}: type must be null or one of {', '.join(PARAMETER_TYPES)}.",
        )
        _require(isinstance(decl.get("nullable", False), bool), f"{where}: nullable must be true or false.")
        names.append(decl["name"])
    _require(len(set(names)) == len(names), "parameter_schema names a parameter twice.")
    _require(spec.get("dag", "dynamic") in DAG_KINDS, f"dag must be one of {', '.join(DAG_KINDS)}.")
    bindings = spec.get("parameter_bindings") or {}
    _require(isinstance(bindings, dict), "parameter_bindings must be an object.")
    for step_name, arguments in bindings.items():
        _require(isinstance(arguments, dict), f"parameter_bindings[{step_name!r}] must be an object.")
        for argument, parameter in arguments.items():
            _require(
                parameter in names,
                f"parameter_bindings[{step_name!r}][{argument!r}] names {parameter!r}, which is not a parameter.",
            )


def _applicable_bindings(spec: dict[str, Any], steps_by_name: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The bindings whose step and argument are in the spec: a spec edited by hand
    (a step taken out, an argument dropped) keeps the ones that still apply."""
    applicable: dict[str, dict[str, str]] = {}
    for step_name, arguments in (spec.get("parameter_bindings") or {}).items():
        parameters = steps_by_name.get(step_name, {}).get("parameters", {})
        kept = {argument: parameter for argument, parameter in arguments.items() if argument in parameters}
        if kept:
            applicable[step_name] = kept
    return applicable


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def parameter_value_problem(decl: ParameterDecl, value: Any) -> str | None:
    """Why `value` does not fit the parameter, or None when it does."""
    expected = decl.get("type")
    if value is None:
        if decl.get("nullable") or expected is None:
            return None
        return f"Parameter {decl['name']!r} takes {_a(expected)}, not null."
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return f"Parameter {decl['name']!r} must be a JSON value."
    actual = _type_name(value)
    if expected is None or actual == expected or (expected == "number" and actual == "integer"):
        return None
    shown = json.dumps(value)[:80]
    or_null = " or null" if decl.get("nullable") else ""
    return f"Parameter {decl['name']!r} takes {_a(expected)}{or_null}, got {_a(actual)} ({shown})."


def _a(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


def resolve_parameters(spec: PipelineSpec, values: Any) -> dict[str, Any]:
    """The parameters of a new run of `spec`: `values` checked against its schema,
    the defaults for the ones not given. Raises ParameterError naming the parameter."""
    schema = spec.get("parameter_schema")
    if schema is None:
        raise ParameterError(
            "parameters",
            f"Pipeline {spec['pipeline']!r} was compiled by an SDK that did not record its "
            "parameters; run it once more from its code to start runs of it without the code.",
        )
    if not isinstance(values, dict):
        raise ParameterError("parameters", "parameters must be an object of parameter name -> value.")
    declared = {decl["name"]: decl for decl in schema}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ParameterError(
            unknown[0],
            f"Pipeline {spec['pipeline']!r} has no parameter {unknown[0]!r}; its parameters are: "
            f"{', '.join(declared) or 'none'}.",
        )
    resolved: dict[str, Any] = {}
    for name, decl in declared.items():
        if name in values:
            problem = parameter_value_problem(decl, values[name])
            if problem:
                raise ParameterError(name, problem)
            resolved[name] = values[name]
        elif "default" in decl:
            resolved[name] = decl["default"]
        else:
            raise ParameterError(name, f"Parameter {name!r} has no default; give it a value.")
    return resolved


def bind_parameters(spec: PipelineSpec, parameters: dict[str, Any]) -> PipelineSpec:
    """A copy of a static spec whose steps take `parameters` (already resolved)
    where the pipeline function passed its parameters to them."""
    if spec.get("dag") != "static":
        raise SpecError(f"Pipeline {spec['pipeline']!r} has a dynamic DAG: compile it again with the parameters.")
    bound = copy.deepcopy(spec)
    bound["parameters"] = dict(parameters)
    bindings = spec.get("parameter_bindings") or {}
    for step in bound["steps"]:
        for argument, parameter in bindings.get(step["name"], {}).items():
            step["parameters"][argument] = parameters[parameter]
    return bound


# Options of a run, not of what runs: two runs that differ only by these are runs of
# one pipeline version (a trigger may also change the first two).
RUN_OPTION_KEYS = ("enable_cache", "run_name_template", "tags", "exclusive_tags", "extra", "settings")
# A step's share of them: the run's settings and extra are merged into each step's.
STEP_RUN_OPTION_KEYS = ("enable_cache", "extra", "settings")


# What configuration (with_options, a YAML file) sets on a step besides its parameters.
STEP_OPTION_KEYS = ("enable_cache", "retry", "extra", "settings", "model", "queue", "timeout", *HOOK_KINDS)


def reapply_configuration(spec: PipelineSpec, recorded: PipelineSpec) -> PipelineSpec:
    """A copy of `spec`, a dynamic pipeline compiled again from its decorated function
    (so without the configuration its first compile had), with `recorded`'s
    configuration put back.

    Put back: the run options (`RUN_OPTION_KEYS`: tags, exclusive tags, extra,
    settings, run name template, cache), the pipeline's queue and model, and, on
    each step the recorded spec also has (same invocation id and step source), that
    step's options (`STEP_OPTION_KEYS`). A step only this compile invokes gets the
    run's settings under those it compiled with (the step's and the code's pipeline's
    win) and the pipeline's queue when it names none. Not put back: step parameters
    given by configuration (in a recompiled dynamic DAG they cannot be told from the
    values the pipeline passes), and a step-level option or hook on a step only this
    compile invokes."""
    result: dict[str, Any] = copy.deepcopy(dict(spec))
    for key in (*RUN_OPTION_KEYS, "queue", "model"):
        if key in recorded:
            result[key] = copy.deepcopy(recorded[key])  # type: ignore[literal-required]
        else:
            result.pop(key, None)
    recorded_steps: dict[str, dict[str, Any]] = {step["name"]: dict(step) for step in recorded.get("steps", [])}
    run_settings = recorded.get("settings") or {}
    for step in result["steps"]:
        before = recorded_steps.get(step["name"])
        if before is not None and before.get("source") == step["source"]:
            for key in STEP_OPTION_KEYS:
                if key in before:
                    step[key] = copy.deepcopy(before[key])
                else:
                    step.pop(key, None)
            continue
        if run_settings:
            step["settings"] = merged_settings(run_settings, step.get("settings") or {})
        if "queue" not in step and recorded.get("queue"):
            step["queue"] = recorded["queue"]
    return result  # type: ignore[return-value]


def spec_shape_hash(spec: PipelineSpec) -> str:
    """What identifies a version of a pipeline: its DAG and its code, not how one run
    of it was started.

    Counted: the steps (their sources and code hashes, arguments, inputs, outputs and
    materializers, and step options: queue, timeout, retry, hooks, model), the
    parameter schema and the pipeline's queue and source. Not counted: the parameter
    values (a static spec's bound step arguments are replaced by the parameter's
    name; a dynamic one is identified by its code, as its steps differ with the
    values) and the run options (`RUN_OPTION_KEYS`, and each step's cache setting,
    `extra` and `settings`, the configuration the run's are merged into).
    """
    shape: dict[str, Any] = {k: v for k, v in spec.items() if k != "parameters" and k not in RUN_OPTION_KEYS}
    bindings = spec.get("parameter_bindings") or {}
    if spec.get("dag") == "dynamic":
        shape["steps"] = sorted({(step["source"], step["code_hash"]) for step in spec["steps"]})
    else:
        shape["steps"] = [
            {
                **{k: v for k, v in step.items() if k not in STEP_RUN_OPTION_KEYS},
                "parameters": {
                    argument: (
                        {"$parameter": bindings[step["name"]][argument]}
                        if argument in bindings.get(step["name"], {})
                        else value
                    )
                    for argument, value in step["parameters"].items()
                },
            }
            for step in spec["steps"]
        ]
    encoded = json.dumps(shape, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()
