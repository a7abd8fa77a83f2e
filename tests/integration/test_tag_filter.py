"""The artifact-version `tag` filter matches a tag exactly, on every database.

Marked `integration` so that CI runs it on PostgreSQL (jsonb containment) as well as
on SQLite (a text search in the JSON), the two ways the filter is built.
"""

from __future__ import annotations

import pytest

from pipelines.models import Artifact, ArtifactVersion

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

TAGS = {
    "1": ["nightly"],
    "2": ["Nightly"],
    "3": ['quote"inside', "back\\slash"],
    "4": ["ünïcode ☃"],
    "5": ["nightly-build", "x"],
    "6": [],
}


@pytest.fixture
def versions() -> dict[str, int]:
    artifact = Artifact.objects.create(name="dataset")
    return {
        version: ArtifactVersion.objects.create(
            artifact=artifact, version=version, number=int(version), uri=f"/store/{version}", tags=tags
        ).id
        for version, tags in TAGS.items()
    }


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("nightly", ["1"]),  # not "Nightly", not "nightly-build"
        ("Nightly", ["2"]),
        ('quote"inside', ["3"]),
        ("back\\slash", ["3"]),
        ("ünïcode ☃", ["4"]),
        ("x", ["5"]),
        ("night", []),
    ],
)
def test_a_tag_matches_exactly(api, versions, tag, expected):
    answer = api.get("/api/v1/artifact-versions/", {"tag": tag, "ordering": "id"})

    assert answer.status_code == 200
    assert [item["version"] for item in answer.json()["results"]] == expected
