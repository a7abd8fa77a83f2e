"""The hand-written hot-path reads give exactly what the ORM and the serializers give.

Marked `integration` so that CI runs them on PostgreSQL as well as on SQLite: the
two backends hand back datetimes and JSON differently, which is what could go wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from pipelines.api import serializers as s
from pipelines.api.hot_reads import active_token, artifact_version_representation
from pipelines.models import (
    ApiToken,
    Artifact,
    ArtifactVersion,
    ArtifactVersionStatus,
    PipelineRun,
    RunMetadata,
    StepRun,
)
from pipelines.services.runs import pipeline_run_create
from pipelines.services.tokens import api_token_create, api_token_revoke, run_token_create
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

TOKEN_FIELDS = ("id", "user_id", "last_used_at", "expires_at", "step_run_id", "attempt")


@pytest.fixture
def run(owner, no_broker) -> PipelineRun:
    return pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=3), user=owner)


def _by_orm(key: str) -> ApiToken:
    return ApiToken.objects.select_related("user", "step_run").get(digest=ApiToken.digest_of(key))


def test_a_personal_token_and_its_user_match_the_orm(owner, django_assert_num_queries):
    token, key = api_token_create(user=owner, expires_in=timedelta(days=3))
    ApiToken.objects.filter(id=token.id).update(last_used_at=datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC))
    owner.last_login = timezone.now()
    owner.save()

    with django_assert_num_queries(1):
        fast = active_token(ApiToken.digest_of(key))

    orm = _by_orm(key)
    assert fast is not None
    assert {name: getattr(fast, name) for name in TOKEN_FIELDS} == {name: getattr(orm, name) for name in TOKEN_FIELDS}
    assert fast.last_used_at == datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert fast.expires_at.tzinfo is not None
    user_fields = [field.attname for field in type(owner)._meta.concrete_fields]
    assert {name: getattr(fast.user, name) for name in user_fields} == {
        name: getattr(orm.user, name) for name in user_fields
    }
    assert fast.user.is_active is True
    assert fast.user.check_password("pw-owner-123")
    assert fast.run_id is None


def test_a_run_token_carries_its_step_runs_state(run, owner, django_assert_num_queries):
    step = run.steps.get(name="load")
    StepRun.objects.filter(id=step.id).update(status="running", attempt=2)
    key = run_token_create(step_run_id=step.id, attempt=2)

    with django_assert_num_queries(1):
        fast = active_token(ApiToken.digest_of(key))
        # What authentication reads of the step run is loaded, not fetched later.
        state = (fast.step_run.status, fast.step_run.attempt, fast.run_id, fast.attempt)

    assert state == ("running", 2, run.id, 2)
    assert fast.user == owner


def test_revoked_and_unknown_tokens_are_not_found(owner):
    token, key = api_token_create(user=owner)
    api_token_revoke(token=token)

    assert active_token(ApiToken.digest_of(key)) is None
    assert active_token(ApiToken.digest_of("pl_nothing")) is None


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
    )


def _by_serializer(version: ArtifactVersion) -> dict:
    return dict(s.ArtifactVersionSerializer(ArtifactVersion.objects.select_related("artifact").get(id=version.id)).data)


def test_a_version_with_metadata_matches_the_serializer(run, owner, django_assert_num_queries):
    artifact = Artifact.objects.create(name="dataset")
    version = _version(artifact, "7")
    ArtifactVersion.objects.filter(id=version.id).update(producer_step_run=run.steps.get(name="load"))
    for key, value, kind in [
        ("accuracy", 0.5, "float"),
        ("rows", 10, "int"),
        ("accuracy", 0.75, "float"),  # a later write of a key wins
        ("location", "s3://bucket/x", "Uri"),
        ("nothing", None, "null"),
        ("nested", {"a": [1, "two", None]}, "dict"),
        ("ünïcode", "naïve ☃", "str"),
    ]:
        RunMetadata.objects.create(artifact_version=version, key=key, value=value, type=kind)

    with django_assert_num_queries(2):  # the version, then its metadata
        fast = artifact_version_representation("dataset", "7", user=owner)

    assert fast == _by_serializer(version)
    assert [entry["key"] for entry in fast["run_metadata"]] == [
        "accuracy",
        "rows",
        "location",
        "nothing",
        "nested",
        "ünïcode",
    ]
    assert fast["run_metadata"][0]["value"] == 0.75
    assert fast["producer_step_run"] == run.steps.get(name="load").id


def test_a_version_without_metadata_matches_the_serializer(owner):
    artifact = Artifact.objects.create(name="dataset")
    version = _version(artifact, "1")

    fast = artifact_version_representation("dataset", "1", user=owner)

    assert fast == _by_serializer(version)
    assert fast["run_metadata"] == []


def test_without_a_version_the_newest_ready_one_is_found(owner):
    artifact = Artifact.objects.create(name="dataset")
    _version(artifact, "1")
    newest_ready = _version(artifact, "2")
    _version(artifact, "3", status=ArtifactVersionStatus.PENDING)
    Artifact.objects.create(name="other")

    assert artifact_version_representation("dataset", None, user=owner)["id"] == newest_ready.id
    assert artifact_version_representation("dataset", "3", user=owner) is None  # still being written
    assert artifact_version_representation("dataset", "4", user=owner) is None
    assert artifact_version_representation("other", None, user=owner) is None
    assert artifact_version_representation("missing", None, user=owner) is None
