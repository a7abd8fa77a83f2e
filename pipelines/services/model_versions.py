"""The model control plane: model versions made by runs, their stages and artifacts."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from pipelines.models import ArtifactKind, MLModel, ModelStage, ModelVersion, ModelVersionArtifact
from pipelines.sdk.spec import SpecError
from pipelines.services.transitions import move_model_version

LIVE_STAGES = (ModelStage.STAGING, ModelStage.PRODUCTION)
# ZenML's model card fields, kept on MLModel.
CARD_FIELDS = ("license", "audience", "use_cases", "limitations", "trade_offs", "ethics")


class ModelStageTaken(ValueError):
    """Another version holds the stage; promoting needs force=True."""


def model_version_resolve(*, spec_model: dict[str, Any], user: AbstractBaseUser | None) -> ModelVersion:
    """The version a run works on: a new numbered one when the spec names none, else
    the named (or numbered) one, created if it does not exist yet, or the existing
    version holding a stage (`production`, ...; `latest` is the newest version)."""
    wanted_stage = spec_model.get("version")
    if wanted_stage is not None and str(wanted_stage) in STAGE_NAMES:
        return _version_in_stage(spec_model["name"], str(wanted_stage))
    model, _ = MLModel.objects.get_or_create(
        name=spec_model["name"],
        defaults={
            "description": spec_model.get("description") or "",
            "tags": spec_model.get("tags") or [],
            **{key: str(spec_model[key]) for key in CARD_FIELDS if spec_model.get(key) is not None},
            "created_by": user if user and user.is_authenticated else None,
        },
    )
    MLModel.objects.select_for_update().filter(id=model.id).first()  # serialise numbering
    wanted = spec_model.get("version")
    if wanted is not None:
        wanted = str(wanted)
        found = model.versions.filter(number=int(wanted)) if wanted.isdigit() else model.versions.filter(name=wanted)
        if found.exists():
            return found.get()
        if wanted.isdigit():
            raise SpecError(f"Model {model.name!r} has no version number {wanted}; leave version out to make one.")
    number = (model.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    return ModelVersion.objects.create(
        model=model, number=number, name=wanted or str(number), description=spec_model.get("description") or ""
    )


def _version_in_stage(model_name: str, stage: str) -> ModelVersion:
    """A run on a stage works on the version holding it (ZenML's inference pipelines)."""
    versions = ModelVersion.objects.filter(model__name=model_name).order_by("-number")
    if stage != "latest":
        versions = versions.filter(stage=stage)
    found = versions.first()
    if found is None:
        if not MLModel.objects.filter(name=model_name).exists():
            raise SpecError(
                f"Model {model_name!r} does not exist, so it has no {stage!r} version; run a training "
                "pipeline with this model first."
            )
        raise SpecError(
            f"Model {model_name!r} has no version in stage {stage!r}; promote one first "
            f"(Model(name={model_name!r}, version=...).set_stage({stage!r})) or name a version."
        )
    return found


def model_version_set_stage(*, version: ModelVersion, stage: str, force: bool = False) -> ModelVersion:
    if stage not in ModelStage.values:
        raise ValueError(f"Unknown stage {stage!r}; stages are {', '.join(ModelStage.values)}.")
    with transaction.atomic():
        # The model's row lock serialises stage changes of all its versions, so the
        # stages read below are the rows' own and each move below must happen.
        MLModel.objects.select_for_update().filter(id=version.model_id).first()
        current = ModelVersion.objects.values_list("stage", flat=True).get(id=version.id)
        if current != stage:  # staying in a stage is done already, not a move
            if stage in LIVE_STAGES:
                holder = version.model.versions.filter(stage=stage).exclude(id=version.id).first()
                if holder is not None:
                    if not force:
                        raise ModelStageTaken(
                            f"Version {holder.name} of {version.model.name} is in {stage}; pass force=True to "
                            f"move it to archived and promote version {version.name}."
                        )
                    _move(holder.id, source=stage, target=ModelStage.ARCHIVED)
            _move(version.id, source=current, target=stage)
    version.refresh_from_db()
    return version


def _move(version_id: int, *, source: str, target: str) -> None:
    if not move_model_version(version_id, source=source, target=target):
        raise RuntimeError(f"Model version {version_id} left {source} under its model's lock.")


def model_version_link_artifacts(*, model_version_id: int, links: dict[int, str]) -> None:
    """Link artifact versions (id -> kind) to a model version, once each."""
    ModelVersionArtifact.objects.bulk_create(
        [
            ModelVersionArtifact(
                model_version_id=model_version_id, artifact_version_id=av, kind=kind or ArtifactKind.DATA
            )
            for av, kind in links.items()
        ],
        ignore_conflicts=True,
    )


# --- models and versions made or changed by people (Client().create_model, ...) ------
class ModelExists(ValueError):
    """The name is taken (a model's, or a version's within its model)."""


STAGE_NAMES = (*ModelStage.values, "latest")


def model_create(
    *, name: str, description: str = "", tags: list[str] | None = None, user: AbstractBaseUser | None, **card: str
) -> MLModel:
    if MLModel.objects.filter(name=name).exists():
        raise ModelExists(f"A model named {name!r} exists already.")
    return MLModel.objects.create(
        name=name,
        description=description or "",
        tags=list(tags or []),
        **{key: card[key] or "" for key in CARD_FIELDS if key in card},
        created_by=user if user and user.is_authenticated else None,
    )


def model_update(*, model: MLModel, **changes: Any) -> MLModel:
    """Rename a model or change its description or tags (only the keys given)."""
    new_name = changes.get("name")
    if new_name is not None and MLModel.objects.filter(name=new_name).exclude(id=model.id).exists():
        raise ModelExists(f"A model named {new_name!r} exists already.")
    for key in ("name", "description", "tags", *CARD_FIELDS):
        if changes.get(key) is not None:
            setattr(model, key, changes[key])
    model.save()
    return model


def model_delete(*, model: MLModel) -> None:
    """Deletes the model, its versions and their links and metadata; runs and artifact
    versions stay (their model version becomes none)."""
    model.delete()


def _check_version_name(model: MLModel, name: str, *, exclude_id: int | None = None) -> None:
    # Numbers are given in order and stage names select versions: a version may be
    # called neither, or `version="production"` would be ambiguous.
    if name.isdigit():
        raise ValueError(f"{name!r} is a number; version numbers are given automatically.")
    if name in STAGE_NAMES:
        raise ValueError(f"{name!r} is a stage name; choose another version name.")
    if model.versions.filter(name=name).exclude(id=exclude_id).exists():
        raise ModelExists(f"Model {model.name!r} has a version named {name!r} already.")


def model_version_create(*, model: MLModel, name: str | None = None, description: str = "") -> ModelVersion:
    """The model's next numbered version, named `name` (else its number)."""
    with transaction.atomic():
        MLModel.objects.select_for_update().filter(id=model.id).first()  # serialise numbering
        if name is not None:
            _check_version_name(model, name)
        number = (model.versions.aggregate(top=Max("number"))["top"] or 0) + 1
        return ModelVersion.objects.create(
            model=model, number=number, name=name or str(number), description=description or ""
        )


def model_version_update(
    *,
    version: ModelVersion,
    name: str | None = None,
    description: str | None = None,
    stage: str | None = None,
    force: bool = False,
) -> ModelVersion:
    """Rename a version, change its description and/or move it to a stage."""
    if name is not None and name != version.name:
        _check_version_name(version.model, name, exclude_id=version.id)
        version.name = name
    if description is not None:
        version.description = description
    version.save(update_fields=["name", "description"])
    if stage is not None:
        version = model_version_set_stage(version=version, stage=stage, force=force)
    return version


def model_version_delete(*, version: ModelVersion) -> None:
    version.delete()
