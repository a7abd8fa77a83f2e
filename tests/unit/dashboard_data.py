"""Rows and stored artifacts for the dashboard's artifact, model and comparison tests.

Everything goes through the services a worker would call, except the run and step
rows themselves (no worker runs here), and files are written by the project's own
materializers into the test settings' temporary artifact store.
"""

from __future__ import annotations

import struct
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from pipelines.models import (
    ArtifactVersion,
    ModelVersion,
    Pipeline,
    PipelineRun,
    StepRun,
    StepRunInput,
    StepRunOutput,
)
from pipelines.sdk.materializers import materializer_registry
from pipelines.sdk.source import source_of
from pipelines.services.artifacts import artifact_version_finish_saved, artifact_version_start_saved
from pipelines.services.metadata import run_metadata_create
from pipelines.services.model_versions import model_version_link_artifacts, model_version_resolve
from pipelines.storage import artifact_store

XSS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')


def make_run(user, *, name: str = "run-1", pipeline: str = "training", parameters: dict | None = None) -> PipelineRun:
    pipeline_row, _ = Pipeline.objects.get_or_create(name=pipeline)
    now = timezone.now()
    return PipelineRun.objects.create(
        pipeline=pipeline_row,
        name=name,
        spec={},
        parameters=parameters or {},
        status="completed",
        triggered_by=user,
        started_at=now - timedelta(seconds=5),
        finished_at=now,
    )


def make_step(run: PipelineRun, *, name: str = "train", seconds: float = 1.5) -> StepRun:
    now = timezone.now()
    return StepRun.objects.create(
        pipeline_run=run,
        name=name,
        source=f"steps:{name}",
        spec={},
        status="completed",
        started_at=now - timedelta(seconds=seconds),
        finished_at=now,
    )


def save_value(
    name: str, value: Any, *, step: StepRun | None = None, output: str = "output", tags=()
) -> ArtifactVersion:
    """A ready artifact version holding `value`, saved by the materializer that claims it."""
    materializer = materializer_registry.materializer_for_value(value)

    def write(uri: str) -> None:
        materializer(uri).save(value)

    return _save(
        name,
        write,
        materializer=source_of(materializer),
        data_type=f"{type(value).__module__}.{type(value).__qualname__}",
        step=step,
        output=output,
        tags=tags,
    )


def save_files(
    name: str, files: dict[str, bytes], *, step: StepRun | None = None, output: str = "output"
) -> ArtifactVersion:
    """A ready version whose folder holds `files`, as a custom materializer would write them."""

    def write(uri: str) -> None:
        folder = Path(uri)
        folder.mkdir(parents=True, exist_ok=True)
        for relative, data in files.items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_bytes(data)

    return _save(
        name, write, materializer="tests.custom:Materializer", data_type="tests.Custom", step=step, output=output
    )


def _save(name, write, *, materializer, data_type, step, output, tags=()) -> ArtifactVersion:
    store = artifact_store()
    pending = artifact_version_start_saved(
        artifact_name=name,
        version=None,
        tags=list(tags),
        store=store,
        producer_step_run_id=step.id if step else None,
    )
    write(pending.uri)
    version = artifact_version_finish_saved(
        version=pending, materializer=materializer, data_type=data_type, metadata=[], store=store
    )
    if step is not None:
        StepRunOutput.objects.create(step_run=step, name=output, artifact_version=version)
    return version


def consume(step: StepRun, version: ArtifactVersion, *, name: str = "data") -> None:
    StepRunInput.objects.create(step_run=step, name=name, artifact_version=version)


def log(target: str, target_id: int, **values: Any) -> None:
    """Metadata on one target (artifact_version, step_run, pipeline_run or model_version)."""
    from pipelines.sdk.metadata import encode

    run_metadata_create(entries=encode(values), **{f"{target}_id": target_id})


def make_model_version(user, *, model: str = "classifier", version: str | None = None) -> ModelVersion:
    spec: dict[str, Any] = {"name": model}
    if version is not None:
        spec["version"] = version
    return model_version_resolve(spec_model=spec, user=user)


def link(model_version: ModelVersion, artifact_version: ArtifactVersion, kind: str = "data") -> None:
    model_version_link_artifacts(model_version_id=model_version.id, links={artifact_version.id: kind})


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A valid tiny PNG (grey pixels), made without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def use_fresh_store(settings, tmp_path) -> None:
    """Point the artifact store at a folder of this test's own: ids restart per test."""
    settings.PIPELINES = {**settings.PIPELINES, "ARTIFACT_STORE": str(tmp_path / "artifacts")}
