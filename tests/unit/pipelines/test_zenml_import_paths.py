"""ZenML's most imported module paths resolve, with `zenml` replaced by `pipelines`,
to the very objects the SDK defines (re-exports, never copies), and load no Django."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import ArtifactConfig, StepContext, StepRetryConfig, get_step_context, load_artifact, save_artifact, step
from pipelines.sdk import ExternalArtifact, log_artifact_metadata, register_artifact
from pipelines.sdk.enums import ExecutionStatus, ModelStages, VisualizationType
from pipelines.sdk.materializers import (
    BaseMaterializer,
    BuiltInContainerMaterializer,
    BuiltInMaterializer,
    BytesMaterializer,
    DataclassMaterializer,
    PathMaterializer,
    PickleMaterializer,
    StructuredStringMaterializer,
)
from pipelines.sdk.metadata import DType, StorageSize, Uri, encode
from pipelines.sdk.metadata import Path as MetadataPath
from pipelines.sdk.schedules import Schedule
from pipelines.sdk.settings import DockerSettings, ResourceSettings
from pipelines.sdk.types import CSVString, HTMLString, MarkdownString

REPO_ROOT = Path(__file__).resolve().parents[3]

# ZenML's path -> the objects it must give.
PATHS = {
    "pipelines.materializers": {
        "BaseMaterializer": BaseMaterializer,
        "BuiltInMaterializer": BuiltInMaterializer,
        "BuiltInContainerMaterializer": BuiltInContainerMaterializer,
        "BytesMaterializer": BytesMaterializer,
        "PickleMaterializer": PickleMaterializer,
        "DataclassMaterializer": DataclassMaterializer,
        "PathMaterializer": PathMaterializer,
        "StructuredStringMaterializer": StructuredStringMaterializer,
    },
    "pipelines.materializers.base_materializer": {"BaseMaterializer": BaseMaterializer},
    "pipelines.metadata.metadata_types": {"Uri": Uri, "Path": MetadataPath, "DType": DType, "StorageSize": StorageSize},
    "pipelines.config": {
        "Schedule": Schedule,
        "StepRetryConfig": StepRetryConfig,
        "ResourceSettings": ResourceSettings,
        "DockerSettings": DockerSettings,
    },
    "pipelines.config.resource_settings": {"ResourceSettings": ResourceSettings},
    "pipelines.config.docker_settings": {"DockerSettings": DockerSettings},
    "pipelines.config.schedule": {"Schedule": Schedule},
    "pipelines.config.retry_config": {"StepRetryConfig": StepRetryConfig},
    "pipelines.types": {"HTMLString": HTMLString, "MarkdownString": MarkdownString, "CSVString": CSVString},
    "pipelines.enums": {
        "ModelStages": ModelStages,
        "ExecutionStatus": ExecutionStatus,
        "VisualizationType": VisualizationType,
    },
    "pipelines.artifacts": {"ArtifactConfig": ArtifactConfig},
    "pipelines.artifacts.artifact_config": {"ArtifactConfig": ArtifactConfig},
    "pipelines.artifacts.external_artifact": {"ExternalArtifact": ExternalArtifact},
    "pipelines.artifacts.utils": {
        "register_artifact": register_artifact,
        "save_artifact": save_artifact,
        "load_artifact": load_artifact,
        "log_artifact_metadata": log_artifact_metadata,
    },
    "pipelines.steps": {"get_step_context": get_step_context, "StepContext": StepContext, "step": step},
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_each_zenml_path_gives_the_sdks_own_objects(path):
    module = importlib.import_module(path)

    for name, expected in PATHS[path].items():
        assert getattr(module, name) is expected, f"{path}.{name}"
    assert sorted(module.__all__) == sorted(PATHS[path])


def test_the_lazy_materializers_resolve_through_the_zenml_path_to_the_same_class():
    from pipelines.materializers import PandasMaterializer as via_zenml_path
    from pipelines.materializers import PydanticMaterializer as pydantic_via_zenml_path
    from pipelines.sdk.materializers.pandas_materializer import PandasMaterializer
    from pipelines.sdk.materializers.pydantic_materializer import PydanticMaterializer

    assert via_zenml_path is PandasMaterializer
    assert pydantic_via_zenml_path is PydanticMaterializer


def test_an_unknown_name_under_the_materializers_path_is_an_attribute_error():
    import pipelines.materializers

    with pytest.raises(AttributeError, match="NoSuchMaterializer"):
        pipelines.materializers.NoSuchMaterializer


def test_importing_every_zenml_path_loads_no_django_nor_numpy():
    imports = ", ".join(sorted(PATHS))
    check = (
        f"import sys, {imports}; "
        "assert not any(m.split('.')[0] in ('django', 'numpy', 'pandas') for m in sys.modules), sorted(sys.modules)"
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}

    result = subprocess.run(
        [sys.executable, "-c", check], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr


def test_the_enums_hold_the_servers_values():
    from pipelines.models import ModelStage, RunStatus, StepStatus

    assert {stage.value for stage in ModelStages} == set(ModelStage.values) | {"latest"}
    assert {status.value for status in ExecutionStatus} == set(RunStatus.values) | set(StepStatus.values)
    # Members are the plain strings the API returns and accepts.
    assert ExecutionStatus.COMPLETED == "completed"
    assert str(ModelStages.PRODUCTION) == "production"


# ZenML docs, "Automatically retry steps" (how-to/build-pipelines/retry-steps).
def test_docs_snippet_retry_config_from_its_zenml_path():
    from pipelines.config.retry_config import StepRetryConfig

    @step(retry=StepRetryConfig(max_retries=3, delay=10, backoff=2))
    def my_step() -> None:
        raise Exception("This is a test exception")

    assert my_step.retry == StepRetryConfig(max_retries=3, delay=10, backoff=2)


# ZenML docs, "Special Metadata Types" (log_metadata itself needs a server; its encoding is the part under test).
def test_docs_snippet_special_metadata_types_from_their_zenml_path():
    from pipelines.metadata.metadata_types import DType, Path, StorageSize, Uri

    metadata = {
        "dataset_source": Uri("gs://my-bucket/datasets/source.csv"),
        "preprocessing_script": Path("/scripts/preprocess.py"),
        "column_types": {"age": DType("int"), "income": DType("float"), "score": DType("int")},
        "processed_data_size": StorageSize(2500000),
    }

    kinds = {entry["key"]: entry["type"] for entry in encode(metadata)}
    assert kinds == {
        "dataset_source": "Uri",
        "preprocessing_script": "Path",
        "column_types": "dict",
        "processed_data_size": "StorageSize",
    }


# ZenML docs, "Specify step resources" and "Docker settings": the settings from `zenml.config`.
def test_docs_snippet_resource_and_docker_settings_from_the_config_path():
    from pipelines import pipeline
    from pipelines.config import DockerSettings, ResourceSettings

    @step(settings={"resources": ResourceSettings(cpu_count=8, gpu_count=2, memory="8GB")})
    def training_step() -> None: ...

    @pipeline(settings={"docker": DockerSettings(requirements=["pandas"])})
    def training_pipeline() -> None:
        training_step()

    assert training_step.settings == {"resources": {"cpu_count": 8, "gpu_count": 2, "memory": "8GB"}}
    assert training_pipeline.settings == {"docker": {"requirements": ["pandas"]}}
