"""`Tag`, as ZenML's: a run tag with options. `@pipeline(tags=["training",
Tag(name="latest", exclusive=True)])`: an exclusive tag is on one run of the pipeline
at a time, the newest (the server takes it off the pipeline's other runs when a run
that has it is created)."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.sdk.exceptions import PipelineDefinitionError


@dataclass(frozen=True)
class Tag:
    name: str
    exclusive: bool = False
    # ZenML's dashboard colour: kept for code written for it, not shown.
    color: str | None = None
    cascade: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise PipelineDefinitionError(f"A Tag needs a non-empty name, got {self.name!r}.")
        if not isinstance(self.exclusive, bool):
            raise PipelineDefinitionError(f"Tag {self.name!r}: exclusive must be True or False.")
        if self.cascade:
            raise PipelineDefinitionError(
                f"Tag {self.name!r}: cascade=True (the run's tag on its artifact versions too) is not "
                "supported here; tag outputs with ArtifactConfig(tags=[...]) or add_tags(...)."
            )


def tag_names(tags: list[str | Tag]) -> list[str]:
    return [tag.name if isinstance(tag, Tag) else tag for tag in tags]


def exclusive_tag_names(tags: list[str | Tag]) -> list[str]:
    return [tag.name for tag in tags if isinstance(tag, Tag) and tag.exclusive]


def merge_tags(current: list[str | Tag], added: list[str | Tag]) -> list[str | Tag]:
    """`current` then `added`, each name once (a later Tag replaces an earlier entry's options)."""
    by_name: dict[str, str | Tag] = {}
    for tag in [*current, *added]:
        name = tag.name if isinstance(tag, Tag) else tag
        by_name[name] = tag if isinstance(tag, Tag) or name not in by_name else by_name[name]
    return list(by_name.values())
