"""ArtifactConfig in output annotations: names, fixed versions, tags."""

from __future__ import annotations

from typing import Annotated

import pytest

from pipelines import ArtifactConfig, PipelineDefinitionError, step
from pipelines.sdk.outputs import parse_outputs
from pipelines.sdk.spec import SpecError, validate_spec


def test_an_artifact_config_names_the_output_and_travels_in_the_spec():
    @step
    def make() -> Annotated[int, ArtifactConfig(name="my_dataset", version="v1", tags=["raw"])]:
        return 1

    (output,) = parse_outputs(make.entrypoint)
    assert output.name == "my_dataset"
    assert output.config.version == "v1"


def test_several_outputs_can_each_have_a_config():
    def make() -> tuple[Annotated[int, ArtifactConfig(name="a")], Annotated[int, "b"]]:
        return 1, 2

    assert [o.name for o in parse_outputs(make)] == ["a", "b"]


@pytest.mark.parametrize("version", ["12", "../x", "", "a b"])
def test_a_bad_fixed_version_is_refused(version):
    with pytest.raises(PipelineDefinitionError):
        ArtifactConfig(name="x", version=version)


def test_tags_must_be_strings():
    with pytest.raises(PipelineDefinitionError, match="tags"):
        ArtifactConfig(tags="raw")


def test_a_name_and_a_config_name_together_are_refused():
    def make() -> Annotated[int, "x", ArtifactConfig(name="y")]:
        return 1

    with pytest.raises(PipelineDefinitionError, match="more than one"):
        parse_outputs(make)


def test_the_server_refuses_a_spec_with_a_bad_artifact_version():
    spec = {
        "pipeline": "p",
        "steps": [
            {
                "name": "a",
                "source": "m:a",
                "outputs": [{"name": "o", "artifact": {"version": "../../etc", "tags": []}}],
            }
        ],
    }
    with pytest.raises(SpecError, match="invalid artifact setting"):
        validate_spec(spec)
