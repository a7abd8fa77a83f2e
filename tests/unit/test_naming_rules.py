"""One definition per rule, whatever the door.

Names and versions: the same good and bad values go through the SDK (ArtifactConfig),
the spec compiler (run by the SDK and again by the server), the API's serializer and
the service, and each must give the same verdict, with the same message.

Metadata targets: every place that handles the four kinds has the same four.
"""

from __future__ import annotations

import pytest

from pipelines import ArtifactConfig, Model, PipelineDefinitionError
from pipelines.api.serializers import FinishArtifactSerializer, SaveArtifactSerializer
from pipelines.sdk.naming import InvalidName, artifact_version_problem, name_problem, source_problem
from pipelines.sdk.spec import SpecError, validate_spec
from pipelines.services.artifacts import artifact_version_start_saved
from pipelines.storage import artifact_store

GOOD_NAMES = ["a", "_a", "a.b-c_1", "Data_Set", "A" * 200]
BAD_NAMES = ["", "1a", "-a", "a b", "../x", "a/b", "x\n", "\nx", "a\x00", "x²", "é", "A" * 201]
GOOD_VERSIONS = ["v1", "1a", "2024.1", "v1-rc_2", "A" * 100]
# Numbers are given automatically, so a fixed version may not be one ("12", "²").
BAD_VERSIONS = ["", "v1\n", "12", "0", "²", "-v1", "_v1", " v1", "a/b", "../x", "v\x001", "A" * 101]


def _sdk(name: str, version: str | None) -> str | None:
    try:
        ArtifactConfig(name=name, version=version)
    except PipelineDefinitionError as exc:
        return str(exc)
    return None


def _spec(name: str, version: str | None) -> str | None:
    output = {"name": name, "artifact": {"version": version, "tags": []}}
    try:
        validate_spec({"pipeline": "p", "steps": [{"name": "a", "source": "m:f", "outputs": [output]}]})
    except SpecError as exc:
        return str(exc)
    return None


def _serializer(name: str, version: str | None) -> str | None:
    data = SaveArtifactSerializer(data={"artifact": name, "version": version})
    if data.is_valid():
        return None
    if "\x00" in name + (version or ""):
        # DRF refuses a NUL in any text first, with its own message; the verdict is the same.
        return _expected(name, version)
    return " ".join(str(error) for errors in data.errors.values() for error in errors)


def _service(name: str, version: str | None) -> str | None:
    try:
        artifact_version_start_saved(artifact_name=name, version=version, tags=[], store=artifact_store())
    except InvalidName as exc:
        return str(exc)
    return None


ENTRY_POINTS = [_sdk, _spec, _serializer, _service]


def _expected(name: str, version: str | None) -> str | None:
    return name_problem(name, what="Artifact name") or (None if version is None else artifact_version_problem(version))


@pytest.mark.django_db
@pytest.mark.parametrize("entry_point", ENTRY_POINTS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("version", GOOD_VERSIONS + BAD_VERSIONS)
def test_every_door_gives_a_version_the_same_verdict_and_message(entry_point, version):
    expected = artifact_version_problem(version)

    problem = entry_point("data", version)

    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert expected in problem


@pytest.mark.django_db
@pytest.mark.parametrize("entry_point", [_sdk, _serializer, _service], ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("name", GOOD_NAMES + BAD_NAMES)
def test_every_door_gives_an_artifact_name_the_same_verdict_and_message(entry_point, name):
    expected = name_problem(name, what="Artifact name")

    problem = entry_point(name, None)

    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert expected in problem


@pytest.mark.parametrize("name", GOOD_NAMES + BAD_NAMES)
def test_the_spec_compiler_gives_an_output_name_the_same_verdict(name):
    assert (_spec(name, None) is None) == (name_problem(name) is None)


def test_a_version_with_a_trailing_newline_is_refused_when_the_step_is_defined():
    with pytest.raises(PipelineDefinitionError) as refused:
        ArtifactConfig(version="v1\n")

    # Word for word what the server answers to the same version.
    assert str(refused.value) == _serializer("data", "v1\n")
    assert str(refused.value) in _spec("data", "v1\n")


@pytest.mark.django_db
def test_the_api_refuses_a_bad_version_with_the_rule_s_message(api):
    response = api.post("/api/v1/artifact-versions/", {"artifact": "data", "version": "v1\n"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"version": [artifact_version_problem("v1\n")]}


@pytest.mark.parametrize("version", ["1", "12", 7])
def test_a_model_version_may_be_a_number_but_an_artifact_version_may_not(version):
    model = {"name": "m", "version": str(version), "tags": []}
    validate_spec({"pipeline": "p", "model": model, "steps": [{"name": "a", "source": "m:f"}]})

    with pytest.raises(PipelineDefinitionError, match="numbers are given automatically"):
        ArtifactConfig(version=version)


@pytest.mark.parametrize("name", GOOD_NAMES + BAD_NAMES)
@pytest.mark.parametrize("version", [None, "1", "v1", "v1\n", "²", ""])
def test_a_model_is_held_to_the_spec_compiler_s_rules_when_it_is_defined(name, version):
    spec_model = {"name": name, "version": version, "tags": []}
    try:
        validate_spec({"pipeline": "p", "model": spec_model, "steps": [{"name": "a", "source": "m:f"}]})
    except SpecError:
        server_accepts = False
    else:
        server_accepts = True

    try:
        Model(name=name, version=version)
    except PipelineDefinitionError:
        sdk_accepts = False
    else:
        sdk_accepts = True

    assert sdk_accepts == server_accepts


@pytest.mark.parametrize(
    "source", ["m:f", "package.module:Class.method", "_m:_f", "m:f\n", "m", "m:", ":f", "a b:c", "../m:f", ""]
)
def test_a_materializer_source_gets_the_same_verdict_from_the_spec_and_the_finish_serializer(source):
    output = {"name": "o", "materializer": source}
    try:
        validate_spec({"pipeline": "p", "steps": [{"name": "a", "source": "m:f", "outputs": [output]}]})
    except SpecError:
        spec_accepts = False
    else:
        spec_accepts = True
    finish = FinishArtifactSerializer(data={"materializer": source, "data_type": "builtins.int"})

    assert finish.is_valid() == spec_accepts == (source_problem(source) is None)


# The four kinds of metadata target: one list, METADATA_TARGETS, that every place follows.


def test_every_place_that_handles_metadata_targets_has_the_same_four():
    import inspect

    from dashboard.views import explorer
    from pipelines import selectors
    from pipelines.api.serializers import MetadataCreateSerializer
    from pipelines.models import RunMetadata
    from pipelines.sdk.client import Client
    from pipelines.sdk.metadata import METADATA_TARGETS
    from pipelines.services.metadata import run_metadata_create

    kinds = set(METADATA_TARGETS)
    foreign_keys = {f.name for f in RunMetadata._meta.get_fields() if f.many_to_one and f.name != "logged_by"}

    def id_parameters(function) -> set[str]:
        return {p.removesuffix("_id") for p in inspect.signature(function).parameters if p.endswith("_id")} - {
            "logged_by"
        }

    assert len(METADATA_TARGETS) == 4
    assert foreign_keys == kinds
    assert set(MetadataCreateSerializer().fields) - {"entries"} == kinds
    assert id_parameters(run_metadata_create) == kinds
    assert id_parameters(Client.create_run_metadata) == kinds
    # The dashboard's explorer says "run" for a pipeline run.
    assert set(selectors.METADATA_TARGETS.values()) == kinds
    assert set(explorer.TARGETS) == set(explorer._LINKS) == set(selectors.METADATA_TARGETS)
