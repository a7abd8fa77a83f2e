"""Tags on the artifact and model version pages (set by add_tags), escaped."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipelines.services.model_versions import model_version_resolve
from pipelines.services.tags import tags_update
from tests.unit.dashboard_data import XSS, save_value, use_fresh_store

pytestmark = pytest.mark.django_db


def test_the_artifact_page_shows_the_artifact_s_tags(client, owner, settings, tmp_path):
    use_fresh_store(settings, tmp_path)
    version = save_value("plot", [1])
    client.force_login(owner)
    untagged = client.get(reverse("dashboard:artifact-detail", args=[version.artifact_id]))
    tags_update(kind="artifact", target_id=version.artifact_id, add=["gold", *XSS], remove=[])

    page = client.get(reverse("dashboard:artifact-detail", args=[version.artifact_id])).content.decode()

    assert 'id="artifact-tags"' not in untagged.content.decode()
    assert '<span class="tag">gold</span>' in page
    for payload in XSS:
        assert payload not in page


def test_the_model_version_page_shows_its_tags(client, owner):
    version = model_version_resolve(spec_model={"name": "churn"}, user=owner)
    client.force_login(owner)
    tags_update(kind="model_version", target_id=version.id, add=["champion"], remove=[])

    page = client.get(reverse("dashboard:model-version-detail", args=[version.id])).content.decode()

    assert '<span class="tag">champion</span>' in page
