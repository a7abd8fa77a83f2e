"""A large, realistic history for the dashboard benchmark, written with bulk inserts.

Call `seed_history()` inside a configured Django process (PostgreSQL: a few UPDATEs
use its interval arithmetic). With the defaults it writes:

- 20 pipelines, 10,000 runs of 10 steps each (100,000 step runs) spread over the last
  ~4 weeks: most completed, ~5% failed at `train` (the rest skipped), a few running;
- 4 outputs per run (`dataset`, `features`, `model`, `metrics` artifacts per
  pipeline: 80 artifacts, 40,000 versions) with their input and output links;
- 100,000 metadata rows: 3 keys per run, 3 on every `train` step, 3 on every
  `metrics` version and 1 on every `dataset` version;
- 5 models whose versions are made by the runs of pipelines 0-4 (2,500 model
  versions, each with 2 metadata rows, its run, and links to its `model` and
  `metrics` versions), the newest in production, one in staging, old ones archived;
- one run of a 100-step pipeline (`bench_wide`), for the run page of a big DAG.

A second call finds the pipelines there and does nothing.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

PIPELINES = 20
RUNS = 10_000
MODELS = 5
WIDE_STEPS = 100
# (step, outputs, inputs {name: (step, output)}, after)
STEPS: list[tuple[str, list[str], dict[str, tuple[str, str]], list[str]]] = [
    ("load_data", ["dataset"], {}, []),
    ("validate", [], {}, ["load_data"]),
    ("profile", [], {}, ["load_data"]),
    ("featurize", ["features"], {"dataset": ("load_data", "dataset")}, ["validate"]),
    ("tune", [], {}, ["featurize"]),
    ("train", ["model"], {"features": ("featurize", "features")}, ["tune"]),
    ("evaluate", ["metrics"], {"model": ("train", "model")}, []),
    ("report", [], {}, ["evaluate", "profile"]),
    ("export", [], {}, ["evaluate"]),
    ("notify", [], {}, ["report", "export"]),
]
BATCH = 5_000


@dataclass(frozen=True)
class Seeded:
    runs: int
    step_runs: int
    artifact_versions: int
    metadata_rows: int
    model_versions: int


def pipeline_spec(name: str, *, source_module: str = "bench_history") -> dict[str, Any]:
    steps = []
    for step_name, outputs, inputs, after in STEPS:
        steps.append(
            {
                "name": step_name,
                "source": f"{source_module}:{step_name}",
                "code_hash": hashlib.sha256(step_name.encode()).hexdigest()[:16],
                "parameters": {"seed": 42} if step_name == "train" else {},
                "inputs": {k: {"step": s, "output": o} for k, (s, o) in inputs.items()},
                "after": after,
                "outputs": [{"name": o, "type": "builtins.dict", "materializer": None} for o in outputs],
                "enable_cache": True,
            }
        )
    return {
        "version": 1,
        "pipeline": name,
        "run_name_template": "{pipeline}-{date}-{time}",
        "parameters": {"learning_rate": 0.01, "epochs": 10},
        "enable_cache": True,
        "steps": steps,
    }


def wide_spec(steps: int) -> dict[str, Any]:
    """A grid of 10-step layers, each step reading one output of the layer before."""
    specs = []
    width = 10
    for i in range(steps):
        layer, column = divmod(i, width)
        inputs = {}
        if layer:
            source = (layer - 1) * width + (column * 3) % width
            inputs = {"value": {"step": f"step_{source:03d}", "output": "output"}}
        specs.append(
            {
                "name": f"step_{i:03d}",
                "source": "bench_history:wide_step",
                "code_hash": "",
                "parameters": {},
                "inputs": inputs,
                "after": [],
                "outputs": [{"name": "output", "type": "builtins.int", "materializer": None}],
                "enable_cache": False,
            }
        )
    return {
        "version": 1,
        "pipeline": "bench_wide",
        "run_name_template": "{pipeline}-{date}-{time}",
        "parameters": {},
        "enable_cache": False,
        "steps": specs,
    }


def seed_history(*, artifact_root: Path, runs: int = RUNS, pipelines: int = PIPELINES) -> Seeded | None:
    """Write the history (once). Returns what was written, None when it was there."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from pipelines.models import (
        Artifact,
        ArtifactVersion,
        MLModel,
        ModelVersion,
        ModelVersionArtifact,
        Pipeline,
        PipelineRun,
        RunMetadata,
        StepRun,
        StepRunInput,
        StepRunOutput,
    )
    from pipelines.sdk.spec import upstream_of, validate_spec

    if Pipeline.objects.filter(name__startswith="bench_pipeline_").exists():
        return None
    rng = random.Random(7)
    now = timezone.now()
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})

    with transaction.atomic():
        pipeline_rows = Pipeline.objects.bulk_create(
            [Pipeline(name=f"bench_pipeline_{i:02d}", created_by=user) for i in range(pipelines)]
        )
        specs = {p.id: validate_spec(pipeline_spec(p.name)) for p in pipeline_rows}
        models = MLModel.objects.bulk_create(
            [
                MLModel(name=f"bench_model_{i}", description=f"Model trained by bench_pipeline_{i:02d}")
                for i in range(MODELS)
            ]
        )
        artifacts = {
            (p.id, output): artifact
            for p, output, artifact in _bulk_artifacts(
                Artifact, pipeline_rows, ["dataset", "features", "model", "metrics"]
            )
        }

        # Runs, oldest first, one every few minutes; the newest few are still going.
        run_rows: list[Any] = []
        model_version_rows: list[Any] = []
        model_numbers = [0] * MODELS
        running_from = runs - 5
        for i in range(runs):
            pipeline = pipeline_rows[i % pipelines]
            started = now - timedelta(minutes=4 * (runs - i), seconds=rng.randint(0, 60))
            if i >= running_from:
                status = "running"
            elif rng.random() < 0.05:
                status = "failed"
            else:
                status = "completed"
            duration = timedelta(seconds=30 + rng.randint(0, 600))
            run_rows.append(
                PipelineRun(
                    pipeline=pipeline,
                    name=f"{pipeline.name}-{started:%Y_%m_%d-%H_%M_%S_%f}-{i}",
                    status=status,
                    revision=20,
                    spec=specs[pipeline.id],
                    parameters={"learning_rate": round(0.001 * (1 + i % 10), 3), "epochs": 10 + i % 5},
                    config={"enable_cache": True, "run_name_template": "{pipeline}-{date}-{time}"},
                    triggered_by=user,
                    started_at=started,
                    finished_at=None if status == "running" else started + duration,
                )
            )
            model_index = i % pipelines
            if model_index < MODELS:
                model_numbers[model_index] += 1
                number = model_numbers[model_index]
                model_version_rows.append(ModelVersion(model=models[model_index], number=number, name=str(number)))
            else:
                model_version_rows.append(None)
        real_versions = ModelVersion.objects.bulk_create([v for v in model_version_rows if v], batch_size=BATCH)
        iterator = iter(real_versions)
        for run, version in zip(run_rows, model_version_rows, strict=True):
            run.model_version = next(iterator) if version else None
        run_rows = PipelineRun.objects.bulk_create(run_rows, batch_size=2_000)

        # Ten steps per run with their phases; a failed run fails at `train`.
        step_rows = []
        for run in run_rows:
            at = run.started_at
            failed_at = "train" if run.status == "failed" else None
            skipped = False
            for index, (name, _outputs, _inputs, _after) in enumerate(STEPS):
                step_spec = specs[run.pipeline_id]["steps"][index]
                if run.status == "running":
                    status = "completed" if index < 5 else ("running" if index == 5 else "pending")
                elif skipped:
                    status = "skipped"
                elif name == failed_at:
                    status = "failed"
                    skipped = True
                else:
                    status = "completed"
                ran = status in ("completed", "failed", "running")
                took = timedelta(milliseconds=rng.randint(200, 20_000))
                step_rows.append(
                    StepRun(
                        pipeline_run=run,
                        name=name,
                        source=step_spec["source"],
                        code_hash=step_spec["code_hash"],
                        parameters=step_spec["parameters"],
                        spec=step_spec,
                        upstream=sorted(upstream_of(step_spec)),
                        status=status,
                        attempt=1 if ran else 0,
                        cache_key=f"{run.id:08x}{index:02x}".ljust(64, "0"),
                        worker="bench@worker" if ran else "",
                        queued_at=at if ran else None,
                        started_at=at + timedelta(milliseconds=20) if ran else None,
                        user_code_started_at=at + timedelta(milliseconds=60) if ran else None,
                        user_code_finished_at=at + took if ran and status != "running" else None,
                        finished_at=at + took + timedelta(milliseconds=30) if ran and status != "running" else None,
                        logs=f"{name}: starting\n{name}: done\n" if ran else "",
                        error="Traceback (most recent call last):\nValueError: diverged\n"
                        if status == "failed"
                        else "",
                    )
                )
                if ran:
                    at += took
        step_rows = StepRun.objects.bulk_create(step_rows, batch_size=BATCH)
        steps_by_run: dict[int, dict[str, Any]] = {}
        for step in step_rows:
            steps_by_run.setdefault(step.pipeline_run_id, {})[step.name] = step

        # Outputs of the steps that completed, and the inputs that read them.
        version_rows = []
        numbers: dict[int, int] = {}
        for run in run_rows:
            for step_name, outputs, _inputs, _after in STEPS:
                step = steps_by_run[run.id][step_name]
                if step.status != "completed":
                    continue
                for output in outputs:
                    artifact = artifacts[(run.pipeline_id, output)]
                    number = numbers[artifact.id] = numbers.get(artifact.id, 0) + 1
                    version_rows.append(
                        ArtifactVersion(
                            artifact=artifact,
                            status="ready",
                            version=str(number),
                            number=number,
                            uri=str(artifact_root / artifact.name / str(number)),
                            materializer="pipelines.sdk.materializers.builtin:BuiltInContainerMaterializer",
                            data_type="builtins.dict",
                            checksum=f"{rng.getrandbits(256):064x}",
                            size=rng.randint(100, 10_000_000),
                            producer_step_run=step,
                            producer_attempt=1,
                            tags=["bench"],
                        )
                    )
        version_rows = ArtifactVersion.objects.bulk_create(version_rows, batch_size=BATCH)
        by_producer = {(v.producer_step_run_id, v.artifact.name.rsplit("__", 1)[1]): v for v in version_rows}
        output_links = [
            StepRunOutput(
                step_run_id=v.producer_step_run_id, name=v.artifact.name.rsplit("__", 1)[1], artifact_version=v
            )
            for v in version_rows
        ]
        StepRunOutput.objects.bulk_create(output_links, batch_size=BATCH)
        input_links = []
        for run in run_rows:
            for step_name, _outputs, inputs, _after in STEPS:
                step = steps_by_run[run.id][step_name]
                for input_name, (producer, output) in inputs.items():
                    version = by_producer.get((steps_by_run[run.id][producer].id, output))
                    if version is not None and step.status in ("completed", "failed", "running"):
                        input_links.append(StepRunInput(step_run=step, name=input_name, artifact_version=version))
        StepRunInput.objects.bulk_create(input_links, batch_size=BATCH)

        # Model versions: their runs' model and metrics, stages, metadata.
        ModelVersionArtifact.objects.bulk_create(
            [
                ModelVersionArtifact(
                    model_version_id=run.model_version_id,
                    artifact_version=version,
                    kind="model" if output == "model" else "data",
                )
                for run in run_rows
                if run.model_version_id
                for output in ("model", "metrics")
                if (
                    version := by_producer.get(
                        (steps_by_run[run.id]["train" if output == "model" else "evaluate"].id, output)
                    )
                )
            ],
            batch_size=BATCH,
        )
        for index, model in enumerate(models):
            newest = model_numbers[index]
            versions = ModelVersion.objects.filter(model=model)
            versions.filter(number__lte=newest - 50).update(stage="archived")
            versions.filter(number=newest).update(stage="production")
            versions.filter(number=newest - 1).update(stage="staging")

        metadata = []
        for run in run_rows:
            accuracy = round(0.6 + 0.3 * rng.random(), 4)
            steps = steps_by_run[run.id]
            metadata += [
                RunMetadata(key="accuracy", value=accuracy, type="float", pipeline_run=run),
                RunMetadata(key="loss", value=round(1 - accuracy, 4), type="float", pipeline_run=run),
                RunMetadata(key="dataset_rows", value=rng.randint(1_000, 1_000_000), type="int", pipeline_run=run),
                RunMetadata(key="epochs", value=10, type="int", step_run=steps["train"]),
                RunMetadata(
                    key="train_seconds", value=round(rng.random() * 100, 2), type="float", step_run=steps["train"]
                ),
                RunMetadata(key="device", value="cpu", type="str", step_run=steps["train"]),
            ]
            if version := by_producer.get((steps["evaluate"].id, "metrics")):
                metadata += [
                    RunMetadata(key="accuracy", value=accuracy, type="float", artifact_version=version),
                    RunMetadata(key="f1", value=round(accuracy - 0.05, 4), type="float", artifact_version=version),
                    RunMetadata(
                        key="precision", value=round(accuracy + 0.02, 4), type="float", artifact_version=version
                    ),
                ]
            if version := by_producer.get((steps["load_data"].id, "dataset")):
                metadata.append(
                    RunMetadata(key="rows", value=rng.randint(1_000, 1_000_000), type="int", artifact_version=version)
                )
        metadata += [
            RunMetadata(key=key, value=round(rng.random(), 4), type="float", model_version=version)
            for version in real_versions
            for key in ("accuracy", "latency_ms")
        ]
        RunMetadata.objects.bulk_create(metadata, batch_size=BATCH)

        # Creation times follow the runs (auto_now_add stamped them all "now").
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE pipelines_pipelinerun SET created_at = started_at - interval '2 seconds' "
                "WHERE started_at IS NOT NULL"
            )
            cursor.execute(
                "UPDATE pipelines_artifactversion av SET created_at = s.finished_at "
                "FROM pipelines_steprun s WHERE av.producer_step_run_id = s.id AND s.finished_at IS NOT NULL"
            )
            cursor.execute(
                "UPDATE pipelines_modelversion mv SET created_at = r.created_at "
                "FROM pipelines_pipelinerun r WHERE r.model_version_id = mv.id"
            )
            cursor.execute(
                "UPDATE pipelines_runmetadata m SET created_at = r.finished_at FROM pipelines_pipelinerun r "
                "WHERE m.pipeline_run_id = r.id AND r.finished_at IS NOT NULL"
            )
            cursor.execute(
                "UPDATE pipelines_runmetadata m SET created_at = s.finished_at FROM pipelines_steprun s "
                "WHERE m.step_run_id = s.id AND s.finished_at IS NOT NULL"
            )
            cursor.execute(
                "UPDATE pipelines_runmetadata m SET created_at = av.created_at FROM pipelines_artifactversion av "
                "WHERE m.artifact_version_id = av.id"
            )
            cursor.execute(
                "UPDATE pipelines_runmetadata m SET created_at = mv.created_at FROM pipelines_modelversion mv "
                "WHERE m.model_version_id = mv.id"
            )

        wide = _seed_wide_run(user=user, now=now)
    # As autovacuum would leave a long-lived database: statistics, and a visibility map
    # that lets index-only scans skip the table.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return Seeded(
        runs=len(run_rows) + 1,
        step_runs=len(step_rows) + len(wide),
        artifact_versions=len(version_rows),
        metadata_rows=len(metadata),
        model_versions=len(real_versions),
    )


def _bulk_artifacts(artifact_model: Any, pipelines: list[Any], outputs: list[str]) -> list[tuple[Any, str, Any]]:
    # Artifact names are global; each pipeline writes its own (`<pipeline>__<output>`).
    rows = [(p, output, artifact_model(name=f"{p.name}__{output}")) for p in pipelines for output in outputs]
    created = artifact_model.objects.bulk_create([row[2] for row in rows])
    return [(p, output, artifact) for (p, output, _), artifact in zip(rows, created, strict=True)]


def _seed_wide_run(*, user: Any, now: Any) -> list[Any]:
    from pipelines.models import Pipeline, PipelineRun, StepRun
    from pipelines.sdk.spec import upstream_of, validate_spec

    spec = validate_spec(wide_spec(WIDE_STEPS))
    pipeline = Pipeline.objects.create(name="bench_wide", created_by=user)
    run = PipelineRun.objects.create(
        pipeline=pipeline,
        name=f"bench_wide-{now:%Y_%m_%d-%H_%M_%S_%f}",
        status="completed",
        spec=spec,
        triggered_by=user,
        started_at=now - timedelta(minutes=3),
        finished_at=now - timedelta(minutes=1),
    )
    return StepRun.objects.bulk_create(
        [
            StepRun(
                pipeline_run=run,
                name=step["name"],
                source=step["source"],
                spec=step,
                upstream=sorted(upstream_of(step)),
                status="completed",
                attempt=1,
                queued_at=now - timedelta(minutes=3),
                started_at=now - timedelta(minutes=3) + timedelta(seconds=i),
                user_code_started_at=now - timedelta(minutes=3) + timedelta(seconds=i),
                user_code_finished_at=now - timedelta(minutes=2) + timedelta(seconds=i / 2),
                finished_at=now - timedelta(minutes=2) + timedelta(seconds=i / 2),
            )
            for i, step in enumerate(spec["steps"])
        ]
    )
