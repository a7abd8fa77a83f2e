"""Client().trigger_pipeline, in process against the real API: no import of the pipeline's code."""

from __future__ import annotations

import pytest

from pipelines import ServerError
from pipelines.models import PipelineRun, RunRequest
from pipelines.sdk.client import Client
from pipelines.sdk.exceptions import PipelinesError
from pipelines.services import triggers
from pipelines.services.runs import pipeline_run_create
from tests.unit import trigger_pipelines as tp
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture
def client(api, monkeypatch, owner):
    monkeypatch.setenv("PIPELINES_SERVER_URL", "http://pipelines.test")
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    monkeypatch.setattr(Client, "_http", lambda self: InProcessTransport(api))
    pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner)
    return Client()


def test_run_configuration_as_zenmls_with_the_keywords_winning(client):
    run = client.trigger_pipeline(
        pipeline_name_or_id="words_pipeline",
        run_configuration={"parameters": {"word": "cfg", "times": 4}, "run_name": "from-config"},
        parameters={"times": 5},
    )
    assert run.name == "from-config"
    assert run.parameters == {"word": "cfg", "times": 5, "suffix": "!", "ratio": None}
    assert sorted(run.steps) == ["make_text", "shout"]


def test_an_unsupported_run_configuration_key_is_refused_before_any_request(client):
    with pytest.raises(PipelinesError, match="steps are not supported here"):
        client.trigger_pipeline("words_pipeline", run_configuration={"steps": {}})
    assert PipelineRun.objects.count() == 1


def test_an_unknown_version_is_a_400_naming_it(client):
    with pytest.raises(ServerError, match="has no version 9"):
        client.trigger_pipeline("words_pipeline", version=9)


def test_a_dynamic_pipeline_is_followed_until_its_run_exists(client, owner, monkeypatch):
    pipeline_run_create(spec=tp.loop_pipeline.compile(n=1), user=owner)
    # The worker's part, done when the task would be sent.
    monkeypatch.setattr(
        triggers, "_send_compile", lambda request_id, *, queue: triggers.run_request_compile(request_id=request_id)
    )
    monkeypatch.setattr(triggers.transaction, "on_commit", lambda fn: fn())
    run = client.trigger_pipeline("loop_pipeline", parameters={"n": 2})
    assert sorted(run.steps) == ["number_0", "number_1"]
    assert RunRequest.objects.get().run_id == run.id


def test_a_request_that_failed_on_the_worker_raises_with_its_reason(client, owner, monkeypatch):
    pipeline_run_create(spec=tp.loop_pipeline.compile(n=1), user=owner)
    monkeypatch.setattr(triggers, "_import_pipeline", lambda version: (_ for _ in ()).throw(ImportError("gone")))
    monkeypatch.setattr(
        triggers, "_send_compile", lambda request_id, *, queue: triggers.run_request_compile(request_id=request_id)
    )
    monkeypatch.setattr(triggers.transaction, "on_commit", lambda fn: fn())
    with pytest.raises(ServerError, match=r"could not compile .*ImportError: gone"):
        client.trigger_pipeline("loop_pipeline", parameters={"n": 2})


def test_list_pipeline_versions_gives_each_versions_schema(client):
    versions = client.list_pipeline_versions("words_pipeline")
    assert [(v["number"], v["dag"], v["starts_without_code"]) for v in versions] == [(1, "static", True)]
    assert versions[0]["parameter_schema"][0] == {"name": "word", "type": "string", "nullable": False, "default": "hi"}
