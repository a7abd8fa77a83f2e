"""The Client's errors carry what the server said: the field, the rule, the details."""

from __future__ import annotations

import pytest

from pipelines import ServerError, save_artifact
from pipelines.sdk.client import Client
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_process_client(api, monkeypatch):
    monkeypatch.setenv("PIPELINES_SERVER_URL", "http://pipelines.test")
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    monkeypatch.setattr(Client, "_http", lambda self: InProcessTransport(api))


def test_save_artifact_with_an_all_digit_version_names_the_field_and_the_rule(in_process_client):
    with pytest.raises(ServerError) as caught:
        save_artifact([1], name="x", version="2022")

    message = str(caught.value)
    assert caught.value.status_code == 400
    assert "version" in message
    assert "'2022' is a number; numbers are given automatically" in message
    assert "Invalid input." not in message


def test_an_error_in_several_fields_names_each_of_them(in_process_client):
    client = Client()

    with pytest.raises(ServerError) as caught:
        client._request("POST", "artifact-versions/", json={"artifact": "1x", "version": "2022", "tags": "a"})

    message = str(caught.value)
    assert "see errors" not in message  # the SDK shows no `errors` to see
    assert "artifact: Artifact name must be" in message
    assert "version: Artifact version '2022' is a number" in message
    assert "tags: " in message
    assert set(caught.value.errors) == {"artifact", "version", "tags"}


def test_nested_and_listed_field_errors_are_named_by_their_path_and_capped():
    from pipelines.sdk.client import _field_errors

    errors = {"steps": [{}, {"name": ["Bad name."]}], "spec": {"pipeline": ["Required."]}}
    assert _field_errors(errors) == "steps[1].name: Bad name.; spec.pipeline: Required."

    many = {f"f{index}": ["Bad."] for index in range(12)}
    assert _field_errors(many).endswith("f9: Bad. (and 2 more)")
