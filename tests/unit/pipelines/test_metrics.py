"""/metrics: who may scrape it, and what it says (parsed with prometheus_client's own parser)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from pipelines.models import StepRun, StepStatus
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import StepTimings, step_run_claim, step_run_complete
from pipelines.services.tokens import api_token_create
from pipelines.services.workers import worker_heartbeat
from secrets_app.services import secret_create, secret_read_values
from tests.integration import sample_pipelines as sample
from tests.unit.dashboard_data import use_fresh_store

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def metrics_on(settings, tmp_path):
    use_fresh_store(settings, tmp_path)
    settings.PIPELINES = {**settings.PIPELINES, "METRICS_TOKEN": TOKEN}


def scrape(token: str | None = TOKEN) -> tuple[int, str, object]:
    client = APIClient()
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
    return response.status_code, response.content.decode(), response


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for point in family.samples:
            found[(point.name, tuple(sorted(point.labels.items())))] = point.value
    return found


# --- who may scrape ---------------------------------------------------------------------


def test_the_metrics_token_opens_it_in_the_prometheus_text_format(metrics_on):
    status, text, response = scrape()

    assert status == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {
        "pipelines_runs",
        "pipelines_runs_finished",
        "pipelines_steps_finished",
        "pipelines_step_cache_hits",
        "pipelines_steps_queued",
        "pipelines_step_duration_seconds",
        "pipelines_step_queue_wait_seconds",
        "pipelines_workers_alive",
        "pipelines_queue_workers_alive",
        "pipelines_step_attempts",
        "pipelines_step_retries",
        "pipelines_secret_reads",
        "pipelines_artifact_bytes_written",
        "pipelines_http_request_duration_seconds",
    } <= names


def test_without_credentials_it_is_401_and_asks_for_a_bearer(metrics_on):
    status, text, response = scrape(token=None)

    assert status == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "PIPELINES_METRICS_TOKEN" in text
    assert TOKEN not in text


def test_a_wrong_token_is_refused_and_not_echoed(metrics_on):
    status, text, _ = scrape(token="metrics-token-0123456789abcdeX")

    assert status == 401
    assert "metrics-token" not in text


def test_a_users_api_token_does_not_open_it(metrics_on, owner):
    _, key = api_token_create(user=owner)

    status, text, _ = scrape(token=key)

    assert status == 403
    assert "PIPELINES_METRICS_TOKEN" in text


def test_unset_nobody_may_read_it_and_the_answer_says_which_variable_to_set(settings, owner):
    settings.PIPELINES = {**settings.PIPELINES, "METRICS_TOKEN": ""}
    _, key = api_token_create(user=owner)

    assert scrape(token=None)[0] == 401
    assert scrape(token="")[0] == 401
    status, text, _ = scrape(token=key)
    assert status == 403
    assert "Metrics are off: set PIPELINES_METRICS_TOKEN" in text


def test_the_token_comparison_is_constant_time():
    import inspect

    from pipelines.api import health

    assert "hmac.compare_digest" in inspect.getsource(health.MetricsTokenAuthentication.authenticate)


# --- what it says ------------------------------------------------------------------------


def finish_step(step: StepRun, *, queued_for: float, ran_for: float) -> None:
    attempt = step_run_claim(step_run_id=step.id, worker="w@host")
    step_run_complete(
        step_run_id=step.id, attempt=attempt, inputs={}, outputs=[], timings=StepTimings(None, None), logs=""
    )
    now = timezone.now()
    StepRun.objects.filter(id=step.id).update(
        queued_at=now - timedelta(seconds=queued_for + ran_for),
        started_at=now - timedelta(seconds=ran_for),
        finished_at=now,
    )


def test_runs_steps_histograms_workers_and_secret_reads_come_from_the_database(metrics_on, owner):
    first = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=2), user=owner)
    finish_step(first.steps.get(name="load"), queued_for=0.02, ran_for=3.0)
    StepRun.objects.filter(pipeline_run=first, name="total").update(status=StepStatus.CACHED)
    worker_heartbeat(hostname="w@host", queues=["pipelines", "gpu"], started_at=timezone.now())
    secret = secret_create(name="warehouse", values={"password": "hunter2"}, user=owner)
    secret_read_values(secret=secret, user=owner, via="api")
    secret_read_values(secret=secret, user=owner, via="cli")

    status, text, _ = scrape()

    assert status == 200
    found = samples(text)
    pipeline = (("pipeline", "numbers_pipeline"),)
    assert sum(v for (name, _), v in found.items() if name == "pipelines_runs") == 2
    assert found[("pipelines_step_cache_hits_total", pipeline)] == 1
    assert found[("pipelines_steps_finished_total", (*pipeline, ("status", "completed")))] == 1
    # The step that ran 3 s: in the 5 s bucket, not the 1 s one; count and sum.
    assert found[("pipelines_step_duration_seconds_bucket", (("le", "1.0"), *pipeline))] == 0
    assert found[("pipelines_step_duration_seconds_bucket", (("le", "5.0"), *pipeline))] == 1
    assert found[("pipelines_step_duration_seconds_bucket", (("le", "+Inf"), *pipeline))] == 1
    assert found[("pipelines_step_duration_seconds_count", pipeline)] == 1
    assert found[("pipelines_step_duration_seconds_sum", pipeline)] == pytest.approx(3.0, abs=0.01)
    queue = (("queue", "pipelines"),)
    assert found[("pipelines_step_queue_wait_seconds_bucket", (("le", "0.01"), *queue))] == 0
    assert found[("pipelines_step_queue_wait_seconds_bucket", (("le", "0.05"), *queue))] == 1
    assert found[("pipelines_step_queue_wait_seconds_sum", queue)] == pytest.approx(0.02, abs=0.005)
    # The second run's first step waits in its queue.
    assert found[("pipelines_steps_queued", queue)] >= 1
    assert found[("pipelines_workers_alive", ())] == 1
    assert found[("pipelines_queue_workers_alive", (("queue", "gpu"),))] == 1
    assert found[("pipelines_secret_reads_total", (("via", "api"),))] == 1
    assert found[("pipelines_secret_reads_total", (("via", "cli"),))] == 1
    assert "hunter2" not in text


def test_request_latency_is_labelled_by_route_pattern_never_by_id(metrics_on, api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    assert api.get(f"/api/v1/runs/{run.id}/").status_code == 200
    assert api.get("/no-such-page-8231/").status_code == 404

    _, text, _ = scrape()

    routes = {
        point.labels["route"]
        for family in text_string_to_metric_families(text)
        if family.name == "pipelines_http_request_duration_seconds"
        for point in family.samples
    }
    # DRF's router writes its patterns as regular expressions.
    assert "api/v1/runs/(?P<pk>[^/.]+)/$" in routes
    assert f"api/v1/runs/{run.id}/" not in routes
    # A path that matches no route is one label, whatever the path.
    assert "(unmatched)" in routes
    assert not any("no-such-page" in route for route in routes)


def test_a_scrape_costs_a_fixed_number_of_queries(metrics_on, owner, django_assert_num_queries):
    for scale in range(5):
        pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=scale), user=owner)
    assert scrape()[0] == 200  # the first folds (pipelines.services.metrics)

    # The totals' mark, then one statement per figure: runs, steps (totals and the
    # rows past the mark: counts, durations, queue waits), queued, workers, attempts
    # and retries, reaper counters, secret reads, artifact bytes.
    with django_assert_num_queries(9):
        assert scrape()[0] == 200
    for scale in range(5):
        run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=scale), user=owner)
        finish_step(run.steps.get(name="load"), queued_for=0.5, ran_for=2.0)
    with django_assert_num_queries(9):
        assert scrape()[0] == 200


def test_a_scrape_that_folds_what_ended_says_the_same(metrics_on, owner, monkeypatch):
    from pipelines.models import StepRunTotal
    from pipelines.services import metrics as totals

    for scale in range(3):
        run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=scale), user=owner)
        finish_step(run.steps.get(name="load"), queued_for=0.02 * (scale + 1), ran_for=3.0 * (scale + 1))
    StepRun.objects.filter(pipeline_run=run, name="total").update(
        status=StepStatus.CACHED, queued_at=timezone.now(), finished_at=timezone.now()
    )
    monkeypatch.setattr(totals, "FOLD_EVERY", timedelta(days=1))
    before = samples(scrape()[1])
    assert not StepRunTotal.objects.exists()

    # No grace: this scrape folds every step that ended.
    monkeypatch.setattr(totals, "FOLD_GRACE", timedelta(0))
    monkeypatch.setattr(totals, "FOLD_EVERY", timedelta(0))
    after = samples(scrape()[1])

    assert sum(StepRunTotal.objects.values_list("count", flat=True)) == 4
    steps = ("pipelines_step", "pipelines_steps_finished", "pipelines_runs")
    assert {k: v for k, v in after.items() if k[0].startswith(steps)} == pytest.approx(
        {k: v for k, v in before.items() if k[0].startswith(steps)}
    )
    assert after[("pipelines_step_duration_seconds_count", (("pipeline", "numbers_pipeline"),))] == 3


def test_with_a_multiprocess_folder_a_scrape_adds_up_every_web_process(metrics_on, tmp_path, monkeypatch):
    # Two processes (as gunicorn's workers) each serve one request; the process that
    # answers the scrape reports both.
    import os
    import subprocess
    import sys

    from django.conf import settings

    folder = tmp_path / "prometheus"
    folder.mkdir()
    record = (
        "import django; django.setup()\n"
        "from pipelines import metrics\n"
        "metrics.observe_request(route='api/v1/', method='GET', status=200, seconds=0.02)\n"
    )
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PIPELINES_DATA_DIR": str(settings.DATA_DIR),
    }
    for _ in range(2):
        subprocess.run([sys.executable, "-c", record], env=env, cwd=settings.BASE_DIR, check=True, timeout=60)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))

    _, text, _ = scrape()

    key = (
        "pipelines_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "api/v1/"), ("status", "2xx")),
    )
    assert samples(text)[key] == 2


def test_a_multiprocess_folder_that_cannot_be_written_costs_the_figure_not_the_request(tmp_path):
    import os
    import subprocess
    import sys

    from django.conf import settings

    serve = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "client = Client(HTTP_HOST='localhost', raise_request_exception=False)\n"
        "print([client.get('/api/v1/').status_code for _ in range(2)])\n"
    )
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing"),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PIPELINES_DATA_DIR": str(settings.DATA_DIR),
    }

    done = subprocess.run(
        [sys.executable, "-c", serve], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60
    )

    assert done.stdout.strip() == "[401, 401]", done.stderr[-2000:]
    assert done.stderr.count("Request latency is not recorded: PROMETHEUS_MULTIPROC_DIR") == 1


def test_a_database_that_does_not_answer_makes_the_scrape_a_503_not_a_500(metrics_on, monkeypatch):
    from django.db import OperationalError

    from pipelines.selectors import metrics as figures

    def refuse() -> None:
        raise OperationalError('connection to server at "db.internal" failed')

    monkeypatch.setattr(figures, "runs_by_pipeline_and_status", refuse)

    status, text, _ = scrape()

    assert status == 503
    assert "database does not answer" in text
    assert "db.internal" not in text
