"""A completed step's small output, kept in its row, loads through a real HTTP server
after its unsynced store copy was lost or torn (as by a power cut): the Client asks
the live server to put the copy back (a HEAD of the download route) and reads it."""

from __future__ import annotations

import re

import pytest

from pipelines.client import Client
from pipelines.sdk import artifact_access
from pipelines.sdk.stores import ArtifactIntegrityError
from tests.unit.pipelines.test_inline_artifact_readers import damage_row, kept_in_row, lose, tear

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _own_store(settings, tmp_path, monkeypatch):
    settings.PIPELINES = {**settings.PIPELINES, "ARTIFACT_STORE": str(tmp_path / "artifacts")}
    monkeypatch.setattr(artifact_access, "_unreachable", {})
    monkeypatch.setattr(artifact_access, "_said", set())


@pytest.mark.parametrize("mode", ["auto", "store", "server"])
def test_a_lost_or_torn_copy_loads_through_the_live_server(sdk_env, monkeypatch, mode):
    monkeypatch.setenv("PIPELINES_ARTIFACT_ACCESS", mode)
    torn = kept_in_row("numbers", [1, 2, 3])
    lost = kept_in_row("config", {"lr": 0.1})
    tear(torn)
    lose(lost)
    client = Client()

    assert client.get_artifact_version(torn.id).load() == [1, 2, 3]
    assert client.get_artifact_version(lost.id).load() == {"lr": 0.1}


def test_a_damaged_row_is_refused_naming_the_uri(sdk_env, monkeypatch):
    monkeypatch.delenv("PIPELINES_ARTIFACT_ACCESS", raising=False)
    version = kept_in_row("numbers", [1, 2, 3])
    damage_row(version)
    tear(version)

    with pytest.raises(ArtifactIntegrityError, match=re.escape(version.uri)):
        Client().get_artifact_version(version.id).load()
