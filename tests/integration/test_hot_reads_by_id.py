"""`GET artifact-versions/<id>/` (`Client().get_artifact_version(id)`) answers from two
plain statements (`hot_reads.artifact_version_by_id_representation`) exactly what
`ArtifactVersionSerializer` gives, and every other case as before.

Marked `integration` so that CI runs them on PostgreSQL as well as on SQLite, as
test_hot_reads.py."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from pipelines.api import serializers as s
from pipelines.api.hot_reads import artifact_version_by_id_representation
from pipelines.models import Artifact, ArtifactVersion, ArtifactVersionStatus, RunMetadata
from pipelines.services.runs import pipeline_run_create
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _version(artifact: Artifact, version: str, *, status: str = ArtifactVersionStatus.READY) -> ArtifactVersion:
    return ArtifactVersion.objects.create(
        artifact=artifact,
        version=version,
        number=int(version) if version.isdigit() else None,
        status=status,
        uri=f"/store/{artifact.name}/{version}",
        materializer="pipelines.materializers.BuiltInMaterializer",
        data_type="builtins.dict",
        checksum="ab" * 32,
        size=1234,
        tags=["nightly", "<b>x</b>"],
        file_identities={"data.json": [1, 2, 3]},
    )


def _by_serializer(version: ArtifactVersion) -> dict:
    return dict(s.ArtifactVersionSerializer(ArtifactVersion.objects.select_related("artifact").get(id=version.id)).data)


def test_a_version_with_metadata_matches_the_serializer(owner, no_broker, django_assert_num_queries):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=3), user=owner)
    version = _version(Artifact.objects.create(name="dataset"), "7")
    ArtifactVersion.objects.filter(id=version.id).update(producer_step_run=run.steps.get(name="load"))
    for key, value, kind in [
        ("accuracy", 0.5, "float"),
        ("accuracy", 0.75, "float"),  # a later write of a key wins
        ("nothing", None, "null"),
        ("nested", {"a": [1, "two", None]}, "dict"),
        ("ünïcode", "naïve ☃", "str"),
    ]:
        RunMetadata.objects.create(artifact_version=version, key=key, value=value, type=kind)

    with django_assert_num_queries(2):  # the version with its artifact's name, then its metadata
        fast = artifact_version_by_id_representation(version.id, user=owner)

    assert fast == _by_serializer(version)
    assert fast["run_metadata"][0] == {"key": "accuracy", "value": 0.75, "type": "float"}


def test_a_version_without_metadata_matches_the_serializer(owner):
    version = _version(Artifact.objects.create(name="dataset"), "v1")

    assert artifact_version_by_id_representation(version.id, user=owner) == _by_serializer(version)


def test_pending_missing_and_unreadable_versions_are_not_found(owner):
    artifact = Artifact.objects.create(name="dataset")
    pending = _version(artifact, "1", status=ArtifactVersionStatus.PENDING)
    ready = _version(artifact, "2")
    inactive = get_user_model().objects.create_user("gone", "gone@example.com", "pw-gone-123", is_active=False)

    assert artifact_version_by_id_representation(pending.id, user=owner) is None
    assert artifact_version_by_id_representation(ready.id + 100, user=owner) is None
    assert artifact_version_by_id_representation(ready.id, user=inactive) is None


def test_the_api_answers_a_version_by_id_as_the_serializer_does(api, owner, django_assert_num_queries):
    version = _version(Artifact.objects.create(name="dataset"), "3")
    RunMetadata.objects.create(artifact_version=version, key="rows", value=10, type="int")
    api.get(f"/api/v1/artifact-versions/{version.id}/")  # the token's first use is recorded

    with django_assert_num_queries(3):  # the token, the version, its metadata
        response = api.get(f"/api/v1/artifact-versions/{version.id}/")

    assert response.status_code == 200
    assert response.json() == _by_serializer(version)


def test_the_api_still_filters_a_retrieve_by_its_query_parameters(api):
    version = _version(Artifact.objects.create(name="dataset"), "3")
    Artifact.objects.create(name="other")

    assert api.get(f"/api/v1/artifact-versions/{version.id}/", {"artifact": "dataset"}).status_code == 200
    assert api.get(f"/api/v1/artifact-versions/{version.id}/", {"artifact": "other"}).status_code == 404


@pytest.mark.parametrize("key", ["999999", "99999999999999999999999", "x", "²"])
def test_the_api_answers_a_version_it_cannot_find_with_the_one_404(api, key):
    response = api.get(f"/api/v1/artifact-versions/{key}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_api_says_when_prune_deleted_the_version(api, monkeypatch):
    from pipelines.api import views

    version = _version(Artifact.objects.create(name="dataset"), "1")
    ArtifactVersion.objects.filter(id=version.id).delete()
    monkeypatch.setattr(views, "pruned_version_note", lambda version_id: f"version {version_id} was pruned")

    response = api.get(f"/api/v1/artifact-versions/{version.id}/")

    assert response.status_code == 404
    assert response.json()["detail"] == f"Version {version.id} was pruned; its files are gone."


def test_a_pending_version_is_not_served_through_the_api(api):
    pending = _version(Artifact.objects.create(name="dataset"), "1", status=ArtifactVersionStatus.PENDING)

    assert api.get(f"/api/v1/artifact-versions/{pending.id}/").status_code == 404
