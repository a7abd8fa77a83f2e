"""Worker pools: `@step(queue=...)` sends that step's messages to that Celery queue,
its retries and re-sends too; a waiting client names a queue nobody consumes; the
API and the dashboard show each step's queue and worker. In-process: publishing is
intercepted and records (step run id, queue)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from pipelines.engine.executor import step_run_execute
from pipelines.models import StepRun, StepStatus, WorkerHeartbeat
from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.responses import _no_worker_message, _queues_without_workers
from pipelines.sdk.spec import SpecError, validate_spec
from pipelines.sdk.step import step
from pipelines.selectors import run_progress, workers_alive
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_runs_reap_crashed, step_runs_redispatch_lost, step_runs_release_due_retries
from tests.integration import worker_pipelines as wp

pytestmark = pytest.mark.django_db(transaction=True)


def _step(run, name: str) -> StepRun:
    return StepRun.objects.get(pipeline_run=run, name=name)


# --- the SDK and the spec ------------------------------------------------------------
def test_a_steps_queue_is_in_the_compiled_spec_and_a_step_without_one_has_none():
    spec = wp.pool_pipeline.compile()

    queues = {s["name"]: s.get("queue") for s in spec["steps"]}
    assert queues == {"on_default": None, "on_gpu": "gpu"}


def test_a_pipeline_queue_is_the_default_of_its_steps():
    spec = wp.all_on_gpu_pipeline.compile()

    assert spec["queue"] == "gpu"
    assert [s["queue"] for s in spec["steps"]] == ["gpu"]


def test_with_options_sets_the_queue_and_keeps_the_other_options():
    moved = wp.sleepy_retried.with_options(queue="big-memory")

    assert (moved.queue, moved.timeout, moved.retry) == ("big-memory", 2.0, wp.sleepy_retried.retry)
    assert moved.source == wp.sleepy_retried.source
    assert wp.sleepy_retried.queue is None  # the original is unchanged


def test_with_options_refuses_an_option_that_step_does_not_take():
    with pytest.raises(PipelineDefinitionError, match="does not take colour"):
        wp.quick.with_options(colour="red")


def test_a_pipelines_with_options_sets_its_default_queue():
    spec = wp.pool_pipeline.with_options(queue="cpu").compile()

    assert {s["name"]: s["queue"] for s in spec["steps"]} == {"on_default": "cpu", "on_gpu": "gpu"}


@pytest.mark.parametrize("queue", ["", "gpu,cpu", "has space", "-leading-dash", "x" * 201, 3, "gpu\n"])
def test_a_queue_that_breaks_the_naming_rules_is_refused_where_the_step_is_defined(queue):
    def f() -> None: ...

    with pytest.raises(PipelineDefinitionError, match="The queue of step 'f' must be"):
        step(queue=queue)(f)


def test_the_server_refuses_a_spec_with_a_bad_queue_with_the_same_rule():
    spec = wp.pool_pipeline.compile()
    spec["steps"][1]["queue"] = "gpu,cpu"
    with pytest.raises(SpecError, match="The queue of step 'on_gpu' must be"):
        validate_spec(spec)
    spec = wp.pool_pipeline.compile()
    spec["queue"] = "a b"
    with pytest.raises(SpecError, match="The queue of pipeline 'pool_pipeline' must be"):
        validate_spec(spec)


def test_the_api_answers_a_bad_queue_with_a_400_naming_it(api):
    spec = wp.pool_pipeline.compile()
    spec["steps"][1]["queue"] = "gpu cpu"

    response = api.post("/api/v1/runs/", spec, format="json")

    assert response.status_code == 400
    assert "The queue of step 'on_gpu' must be" in response.content.decode()


# --- where messages go ------------------------------------------------------------------
def test_each_step_is_sent_to_its_own_queue_and_the_others_to_the_servers(owner, broker, settings):
    run = pipeline_run_create(spec=wp.pool_pipeline.compile(), user=owner)
    first = _step(run, "on_default")
    assert broker.sent_to == [(first.id, settings.PIPELINES["QUEUE"])]
    assert (first.queue, _step(run, "on_gpu").queue) == (settings.PIPELINES["QUEUE"], "gpu")

    broker.sent_to.clear()
    step_run_execute(step_run_id=first.id)

    # Not run inline by the worker of the default queue, though it just became ready.
    second = _step(run, "on_gpu")
    assert broker.sent_to == [(second.id, "gpu")]
    assert second.status == StepStatus.QUEUED


def test_a_step_of_the_same_queue_is_still_run_inline(owner, broker, settings):
    settings.PIPELINES = {**settings.PIPELINES, "RUN_NEXT_STEP_INLINE": True}
    run = pipeline_run_create(spec=wp.all_on_gpu_pipeline.compile(), user=owner)
    assert broker.sent_to == [(_step(run, "on_default").id, "gpu")]


def test_a_pipeline_queue_becomes_the_runs_queue(owner, broker):
    run = pipeline_run_create(spec=wp.all_on_gpu_pipeline.compile(), user=owner)

    assert run.queue == "gpu"


def test_retries_crash_recovery_and_lost_messages_go_to_the_steps_queue(owner, broker):
    run = pipeline_run_create(spec=wp.pool_pipeline.compile(), user=owner)
    gpu = _step(run, "on_gpu")
    now = timezone.now()

    StepRun.objects.filter(id=gpu.id).update(status=StepStatus.RETRYING, retry_at=now - timedelta(seconds=1))
    broker.sent_to.clear()
    assert step_runs_release_due_retries(now=now) == [gpu.id]
    assert broker.sent_to == [(gpu.id, "gpu")]

    StepRun.objects.filter(id=gpu.id).update(
        status=StepStatus.RUNNING, attempt=1, heartbeat_at=now - timedelta(hours=1)
    )
    broker.sent_to.clear()
    assert step_runs_reap_crashed(timeout=60, crash_budget=2, now=now) == [gpu.id]
    assert broker.sent_to == [(gpu.id, "gpu")]

    StepRun.objects.filter(id=gpu.id).update(dispatched_at=None, queued_at=now - timedelta(hours=1))
    broker.sent_to.clear()
    assert gpu.id in step_runs_redispatch_lost(grace=1, now=now)
    assert (gpu.id, "gpu") in broker.sent_to


# --- who serves which queue ------------------------------------------------------------------
def _worker(hostname: str, queues: list[str], *, seen_ago: float = 0) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        hostname=hostname, queues=queues, started_at=now, last_seen_at=now - timedelta(seconds=seen_ago)
    )


def test_workers_alive_counts_the_live_workers_of_a_queue():
    _worker("a@h", ["pipelines"])
    _worker("b@h", ["pipelines", "gpu"])
    _worker("c@h", ["gpu"], seen_ago=3600)

    assert workers_alive() == 2
    assert workers_alive(queue="gpu") == 1
    assert workers_alive(queue="tpu") == 0


def test_the_wait_answer_names_the_queues_of_queued_steps_that_no_live_worker_consumes(owner, broker):
    run = pipeline_run_create(spec=wp.pool_pipeline.compile(), user=owner)
    _worker("a@h", ["pipelines"])
    _worker("old-gpu@h", ["gpu"], seen_ago=3600)

    assert run_progress(owner, run_id=run.id)["queues_without_workers"] == []  # gpu's step is pending
    StepRun.objects.filter(pipeline_run=run).update(status=StepStatus.QUEUED)
    assert run_progress(owner, run_id=run.id)["queues_without_workers"] == ["gpu"]
    _worker("gpu@h", ["gpu"])
    assert run_progress(owner, run_id=run.id)["queues_without_workers"] == []


def test_the_wait_endpoint_carries_the_queues_without_workers(api, owner, broker):
    run = pipeline_run_create(spec=wp.all_on_gpu_pipeline.compile(), user=owner)

    body = api.get(f"/api/v1/runs/{run.id}/wait/", {"revision": 0, "timeout": 0}).json()

    assert body["queues_without_workers"] == ["gpu"]


def test_a_waiting_client_names_the_queue_and_the_command_that_serves_it():
    change = {"workers_alive": 1, "queues_without_workers": ["gpu"]}

    waiting = _queues_without_workers(change, {"a": "completed", "b": "queued"})
    message = _no_worker_message("run-1", waiting)

    assert waiting == ["gpu"]
    assert "No worker is consuming the queue 'gpu'" in message
    assert "celery -A config worker -Q gpu" in message


def test_a_waiting_client_still_understands_a_server_without_step_queues():
    assert _queues_without_workers({"workers_alive": 0}, {"a": "queued"}) == ["the step queue"]
    assert _queues_without_workers({"workers_alive": 1}, {"a": "queued"}) == []
    assert "celery -A config worker" in _no_worker_message("run-1", ["the step queue"])


# --- what people see --------------------------------------------------------------------------
def test_the_api_shows_each_steps_queue_and_worker(api, owner, broker):
    run = pipeline_run_create(spec=wp.pool_pipeline.compile(), user=owner)
    StepRun.objects.filter(pipeline_run=run, name="on_gpu").update(worker="gpu-host:42")

    steps = {s["name"]: s for s in api.get(f"/api/v1/runs/{run.id}/").json()["steps"]}

    assert (steps["on_gpu"]["queue"], steps["on_gpu"]["worker"]) == ("gpu", "gpu-host:42")


def test_the_step_page_and_the_runs_step_table_show_queue_and_worker(client, owner, broker):
    run = pipeline_run_create(spec=wp.pool_pipeline.compile(), user=owner)
    gpu = _step(run, "on_gpu")
    StepRun.objects.filter(id=gpu.id).update(worker="gpu-host:4242")
    client.force_login(owner)

    step_page = client.get(reverse("dashboard:step-detail", args=[gpu.id])).content.decode()
    run_page = client.get(reverse("dashboard:run-detail", args=[run.id])).content.decode()

    assert "<dt>Queue</dt><dd><code>gpu</code></dd>" in step_page
    assert "gpu-host:4242" in step_page
    assert '<td class="hide-narrow"><code>gpu</code></td>' in run_page
    assert '<td class="hide-narrow">gpu-host:4242</td>' in run_page


def test_the_home_page_counts_the_default_queues_workers_and_names_every_pool(client, owner):
    _worker("a@h", ["pipelines"])
    _worker("b@h", ["gpu"])
    client.force_login(owner)

    body = client.get(reverse("dashboard:home")).content.decode()

    assert '<div class="figure">1</div>' in body
    assert "by queue: <code>gpu</code> 1 · <code>pipelines</code> 1" in body
