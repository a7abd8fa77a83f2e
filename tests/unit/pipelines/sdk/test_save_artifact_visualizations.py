"""save_artifact from a script records the value's visualizations, as a step's output does."""

from __future__ import annotations

import json

import pytest

from pipelines import save_artifact
from pipelines.models import ArtifactVersion
from pipelines.sdk.client import Client
from pipelines.sdk.visualizations import MANIFEST
from pipelines.storage import store_for_uri
from pipelines.types import MarkdownString
from tests.unit.dashboard_data import use_fresh_store
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker")
def test_save_artifact_records_the_visualizations(api, monkeypatch, settings, tmp_path):
    use_fresh_store(settings, tmp_path)
    monkeypatch.setenv("PIPELINES_SERVER_URL", "http://pipelines.test")
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    monkeypatch.setattr(Client, "_http", lambda client: InProcessTransport(api))

    saved = save_artifact(MarkdownString("# Notes"), name="notes")

    version = ArtifactVersion.objects.get(id=saved.id)
    store = store_for_uri(version.uri)
    with store.open(f"{version.uri}/{MANIFEST}", "rb") as handle:
        assert json.loads(handle.read()) == {"output.md": "markdown"}
    assert store.verify(version.uri, version.checksum) == version.size
