"""A run's configuration as ZenML's code reads it: `get_step_context().pipeline_run.config.extra`,
`Client().get_pipeline_run(...).config.enable_cache`, while staying the dict it was
(`config["extra"]`, `.get(...)`, `json.dumps(config)`, `config == {...}`)."""

from __future__ import annotations

from typing import Any

# ZenML's PipelineConfiguration fields that a run may not have set, and what ZenML
# answers for them then. Any other missing attribute is an AttributeError.
_UNSET: dict[str, Any] = {
    "extra": {},
    "settings": {},
    "parameters": {},
    "tags": [],
    "enable_cache": None,
    "enable_artifact_metadata": None,
    "enable_artifact_visualization": None,
    "enable_step_logs": None,
    "run_name": None,
    "model": None,
}


class RunConfiguration(dict[str, Any]):
    """The run's configuration dict, its keys also readable as attributes."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy, pickle and friends look these up
            raise AttributeError(name)
        if name in self:
            return self[name]
        if name in _UNSET:
            default = _UNSET[name]
            return type(default)() if isinstance(default, dict | list) else default
        raise AttributeError(
            f"The run's configuration has no {name!r}; it has: {', '.join(sorted(self)) or 'nothing'}."
        )
