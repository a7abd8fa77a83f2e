"""ZenML's `ResourceSettings` and `DockerSettings`, for code written for ZenML:
`@step(settings={"resources": ResourceSettings(gpu_count=1, memory="2GB")})`.

Both are stored with the run (its config and the step's spec) and change nothing
here: a step's worker is chosen by its queue (`@step(queue="gpu")`, workers started
with `-Q gpu`), and workers run the code they have, so nothing is built.
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.sdk.exceptions import PipelineDefinitionError


class _Settings:
    FIELDS: tuple[str, ...] = ()
    KIND = ""

    def __init__(self, **fields: Any) -> None:
        unknown = sorted(set(fields) - set(self.FIELDS)) if self.FIELDS else []
        if unknown:
            raise PipelineDefinitionError(
                f"{type(self).__name__} does not take {', '.join(unknown)}; it takes: {', '.join(self.FIELDS)}."
            )
        try:
            json.dumps(fields, allow_nan=False)
        except (TypeError, ValueError):
            raise PipelineDefinitionError(f"The fields of {type(self).__name__} must be JSON values.") from None
        self._fields = {key: value for key, value in fields.items() if value is not None}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._fields.get(name)

    def model_dump(self, exclude_none: bool = True) -> dict[str, Any]:
        """The fields given (as pydantic's, which ZenML's settings are)."""
        return dict(self._fields)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._fields == self._fields  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, json.dumps(self._fields, sort_keys=True)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._fields.items())})"


class ResourceSettings(_Settings):
    """`settings={"resources": ResourceSettings(cpu_count=2, gpu_count=1, memory="4GB")}`."""

    FIELDS = ("cpu_count", "gpu_count", "memory")


class DockerSettings(_Settings):
    """`settings={"docker": DockerSettings(requirements=[...], parent_image=...)}`: any
    of ZenML's fields, kept as given."""


def merged_settings(pipeline: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """A step's settings over its pipeline's, key by key (ZenML's configuration hierarchy:
    the pipeline's `resources: {cpu_count: 2, memory: 1GB}` and the step's
    `resources: {gpu_count: 1, memory: 2GB}` make `{cpu_count: 2, gpu_count: 1, memory: 2GB}`)."""
    merged = {key: dict(value) for key, value in pipeline.items()}
    for key, value in step.items():
        merged[key] = {**merged.get(key, {}), **value}
    return merged
