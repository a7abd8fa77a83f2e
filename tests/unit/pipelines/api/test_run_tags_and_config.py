"""Run tags and the run configuration on the server: stored from the spec
(@pipeline(tags=...), with_options, a YAML file), in the API's run representation and
the Client's PipelineRun, filterable with `?tag=` (the API, the dashboard) and
`list_pipeline_runs(tag=...)` / `tags=[...]` (the Client, as ZenML's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.client import Client
from pipelines.models import PipelineRun
from pipelines.sdk.spec import SpecError, validate_spec
from pipelines.services.runs import pipeline_run_create
from tests.integration import sample_pipelines as sample
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

REPO_ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(autouse=True)
def _source_root(monkeypatch):
    monkeypatch.setenv("PIPELINES_SOURCE_ROOT", str(REPO_ROOT))


@pytest.fixture
def client(api, monkeypatch) -> Client:
    client = Client(server_url="http://pipelines.test", api_token="unused")
    monkeypatch.setattr(client, "_http", lambda: InProcessTransport(api))
    return client


def _run(owner, *tags: str, **options) -> PipelineRun:
    pipeline = sample.numbers_pipeline.with_options(tags=list(tags), **options)
    return pipeline_run_create(spec=pipeline.compile(scale=1), user=owner)


def test_a_runs_tags_extra_and_settings_are_stored_from_its_spec(owner):
    run = _run(owner, "nightly", "gpu", extra={"team": "ml"}, settings={"resources": {"cpu_count": 2}})

    run.refresh_from_db()
    assert run.tags == ["nightly", "gpu"]
    assert run.config["tags"] == ["nightly", "gpu"]
    assert run.config["extra"] == {"team": "ml"}
    assert run.config["settings"] == {"resources": {"cpu_count": 2}}


def test_a_run_without_tags_has_none(owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    assert PipelineRun.objects.get(id=run.id).tags == []


@pytest.mark.parametrize(
    ("tags", "message"),
    [("nightly", "tags must be a list"), ([1], "tags must be a list"), (["a", "a"], "distinct"), ([""], "non-empty")],
)
def test_the_server_refuses_malformed_tags_in_a_spec(tags, message):
    spec = dict(sample.numbers_pipeline.compile(scale=1), tags=tags)
    with pytest.raises(SpecError, match=message):
        validate_spec(spec)


def test_a_spec_with_bad_tags_posted_by_hand_is_a_400_naming_them(api):
    spec = dict(sample.numbers_pipeline.compile(scale=1), tags="nightly")
    response = api.post("/api/v1/runs/", spec, format="json")
    assert response.status_code == 400
    assert "tags must be a list" in response.content.decode()


def test_the_api_shows_and_filters_runs_by_tag(api, owner):
    nightly = _run(owner, "nightly")
    both = _run(owner, "nightly", "gpu")
    _run(owner, "Nightly")
    _run(owner)

    listed = api.get("/api/v1/runs/", {"tag": "nightly"}).json()
    assert {item["id"] for item in listed["results"]} == {nightly.id, both.id}
    assert {tuple(item["tags"]) for item in listed["results"]} == {("nightly",), ("nightly", "gpu")}
    every = api.get("/api/v1/runs/?tag=nightly&tag=gpu").json()
    assert [item["id"] for item in every["results"]] == [both.id]
    assert api.get(f"/api/v1/runs/{both.id}/").json()["tags"] == ["nightly", "gpu"]


def test_the_client_filters_runs_by_tag_as_zenml(client, owner):
    nightly = _run(owner, "nightly")
    both = _run(owner, "nightly", "gpu")

    assert {run.id for run in client.list_pipeline_runs(tag="nightly")} == {nightly.id, both.id}
    assert [run.id for run in client.list_pipeline_runs(tags=["nightly", "gpu"])] == [both.id]
    assert [run.id for run in client.list_pipeline_runs(tag="equals:gpu")] == [both.id]
    assert client.get_pipeline_run(both.id).tags == ["nightly", "gpu"]
    assert client.list_pipeline_runs(tag="nightly")[0].tags in (["nightly"], ["nightly", "gpu"])


def test_the_dashboard_shows_tags_and_filters_the_runs_list_by_tag(client, owner):
    from django.test import Client as BrowserClient

    tagged = _run(owner, "nightly", "gpu")
    other = _run(owner, "weekly")
    browser = BrowserClient()
    browser.force_login(owner)

    page = browser.get("/runs/", {"tag": "gpu"}).content.decode()
    assert tagged.name in page
    assert other.name not in page
    assert 'href="/runs/?tag=nightly"' in page
    detail = browser.get(f"/runs/{tagged.id}/").content.decode()
    assert 'id="run-tags"' in detail
    assert ">gpu</a>" in detail


# --- a schedule from the configuration: calling the pipeline creates it ---------------
def test_a_yaml_schedule_makes_the_call_create_a_schedule_instead_of_a_run(api, owner, monkeypatch, tmp_path):
    from pipelines.models import Schedule as ScheduleRow
    from pipelines.sdk.client import Client as SdkClient
    from pipelines.sdk.schedules import Schedule

    monkeypatch.setenv("PIPELINES_SERVER_URL", "http://pipelines.test")
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    monkeypatch.setattr(SdkClient, "_http", lambda self: InProcessTransport(api))
    config = tmp_path / "run.yaml"
    config.write_text('schedule:\n  cron_expression: "0 3 * * *"\n  name: nightly-numbers\ntags: [scheduled]\n')

    configured = sample.numbers_pipeline.with_options(config_path=str(config))
    assert configured.schedule == Schedule(cron_expression="0 3 * * *", name="nightly-numbers")
    response = configured(scale=5)

    assert PipelineRun.objects.count() == 0
    row = ScheduleRow.objects.get(name="nightly-numbers")
    assert row.cron_expression == "0 3 * * *"
    assert response.name == "nightly-numbers"


def test_a_bad_yaml_schedule_is_refused_when_configured(tmp_path):
    from pipelines import PipelineDefinitionError

    config = tmp_path / "run.yaml"
    config.write_text("schedule:\n  cron_expression: not a cron\n")
    with pytest.raises(PipelineDefinitionError, match="The schedule of pipeline 'numbers_pipeline' is not valid"):
        sample.numbers_pipeline.with_options(config_path=str(config))
    config.write_text("schedule:\n  every: 5\n")
    with pytest.raises(PipelineDefinitionError, match="unexpected keyword argument 'every'"):
        sample.numbers_pipeline.with_options(config_path=str(config))


@pytest.mark.parametrize("query", ["tag=b%00c&tag=a", "tag=" + "x" * 101 + "&tag=a", "&".join(["tag=t"] * 21)])
def test_a_malformed_tag_filter_is_a_400_naming_it(api, query):
    response = api.get(f"/api/v1/runs/?{query}")
    assert response.status_code == 400, response.content
    assert "tag" in response.json()["detail"] or "tag" in str(response.json())


def test_the_run_page_shows_the_runs_extra_and_settings(owner):
    from django.test import Client as BrowserClient

    run = _run(owner, extra={"team": "ml"}, settings={"resources": {"cpu_count": 2}})
    plain = _run(owner)
    browser = BrowserClient()
    browser.force_login(owner)

    page = browser.get(f"/runs/{run.id}/").content.decode()
    assert 'id="run-extra"' in page
    assert "&quot;team&quot;: &quot;ml&quot;" in page
    assert "&quot;cpu_count&quot;: 2" in page
    assert 'id="run-extra"' not in browser.get(f"/runs/{plain.id}/").content.decode()


def test_an_exclusive_tag_stays_only_on_the_newest_run_of_its_pipeline(owner):
    from pipelines import Tag

    def run_with(*tags):
        pipeline = sample.numbers_pipeline.with_options(tags=list(tags))
        return pipeline_run_create(spec=pipeline.compile(scale=1), user=owner)

    first = run_with("nightly", Tag(name="latest", exclusive=True))
    second = run_with(Tag(name="latest", exclusive=True))
    plain = run_with("latest")  # the same name without exclusive= takes nothing away
    other_pipeline = pipeline_run_create(
        spec=sample.failing_pipeline.with_options(tags=["latest"]).compile(), user=owner
    )
    third = run_with(Tag(name="latest", exclusive=True))

    tags = dict(PipelineRun.objects.values_list("id", "tags"))
    assert tags[first.id] == ["nightly"]
    assert tags[second.id] == []
    assert tags[plain.id] == []
    assert tags[third.id] == ["latest"]
    assert tags[other_pipeline.id] == ["latest"]


def test_exclusive_tags_must_be_tags_of_the_run():
    spec = dict(sample.numbers_pipeline.compile(scale=1), tags=["a"], exclusive_tags=["b"])
    with pytest.raises(SpecError, match="exclusive_tags must be a list of the run's tags"):
        validate_spec(spec)
