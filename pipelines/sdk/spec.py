"""The compiled pipeline: the JSON document the SDK posts to `POST /api/v1/runs/`.

The server validates it with the same `validate_spec`, so a hand-written or stale
client gets the same clear messages as the SDK.
"""

from __future__ import annotations

import json
import string
from graphlib import CycleError, TopologicalSorter
from typing import Any, NotRequired, TypedDict

from pipelines.sdk.exceptions import PipelinesError
from pipelines.sdk.hooks import HOOK_KINDS, hook_spec_problem
from pipelines.sdk.naming import artifact_version_problem, name_problem, source_problem, version_problem
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


class PipelineSpec(TypedDict):
    version: int
    pipeline: str
    pipeline_source: NotRequired[str]
    run_name_template: str
    parameters: dict[str, Any]
    source_root: NotRequired[str]
    enable_cache: bool
    steps: list[StepSpec]
    # The queue of the steps that name none.
    queue: NotRequired[str]


class SpecError(ValueError):
    """The spec cannot run; the message says why and how to fix it."""


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
        overlap = set(step.get("inputs", {})) & set(step.get("parameters", {}))
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

    normalized = dict(spec)
    normalized["version"] = SPEC_VERSION
    normalized["run_name_template"] = template
    normalized["parameters"] = parameters
    normalized["enable_cache"] = bool(spec.get("enable_cache", True))
    normalized["steps"] = [
        {
            "name": step["name"],
            "source": step["source"],
            "code_hash": step.get("code_hash", ""),
            "parameters": step.get("parameters", {}),
            "inputs": step.get("inputs", {}),
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
            **{kind: step[kind] for kind in HOOK_KINDS if step.get(kind)},
        }
        for step in steps
    ]
    return normalized  # type: ignore[return-value]


def upstream_of(step: StepSpec) -> set[str]:
    return {ref["step"] for ref in step["inputs"].values()} | set(step["after"])
