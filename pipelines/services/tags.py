"""Adding and removing tags on pipelines, runs, artifacts, artifact versions, models and
model versions (ZenML's `add_tags` / `remove_tags`): one conditional read-modify-write per
row under its row lock, so two concurrent calls both stick (no lost update)."""

from __future__ import annotations

from django.db import models, transaction

from pipelines.models import Artifact, ArtifactVersion, MLModel, ModelVersion, Pipeline, PipelineRun

TAGGABLE: dict[str, type[models.Model]] = {
    "pipeline": Pipeline,
    "run": PipelineRun,
    "artifact": Artifact,
    "artifact_version": ArtifactVersion,
    "model": MLModel,
    "model_version": ModelVersion,
}
# Enough for any labelling scheme; a bound keeps one row's JSON small.
MAX_TAGS = 100
TAG_MAX_LENGTH = 100


class TooManyTags(ValueError):
    """The change would leave more than MAX_TAGS tags on the object."""


def tags_update(*, kind: str, target_id: int, add: list[str], remove: list[str]) -> list[str]:
    """Add `add` (kept once each, in order) and take away `remove`; return the tags.

    The row is locked (SELECT ... FOR UPDATE; SQLite's IMMEDIATE transactions
    serialise writers) between the read and the write, so a concurrent change is
    read, never overwritten."""
    model = TAGGABLE[kind]
    unwanted = set(remove)
    with transaction.atomic():
        current = model.objects.select_for_update().values_list("tags", flat=True).get(id=target_id)
        tags = [tag for tag in (current or []) if tag not in unwanted]
        for tag in add:
            if tag not in tags and tag not in unwanted:
                tags.append(tag)
        if len(tags) > MAX_TAGS:
            raise TooManyTags(f"An object takes at most {MAX_TAGS} tags; this would leave {len(tags)}.")
        if tags != (current or []):
            model.objects.filter(id=target_id).update(tags=tags)
    return tags
