"""The workers page: every worker with its queues and heartbeat, alive or not, and
the steps running on its host now and lately."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from pipelines.models import StepRun, WorkerHeartbeat
from pipelines.selectors.workers import RECENT_STEPS_PER_WORKER, host_of, workers_for_page
from pipelines.services.workers import worker_heartbeat
from tests.unit.dashboard_data import make_run, make_step

pytestmark = pytest.mark.django_db


def _step_on(run, name, worker, status="completed"):
    step = make_step(run, name=name)
    StepRun.objects.filter(id=step.id).update(
        worker=worker, status=status, finished_at=None if status == "running" else step.finished_at
    )
    return step


@pytest.fixture
def fleet(owner, settings):
    settings.PIPELINES = {**settings.PIPELINES, "WORKER_TIMEOUT": 10.0}
    now = timezone.now()
    worker_heartbeat(hostname="gpu@box-a", queues=["gpu", "pipelines"], started_at=now - timedelta(hours=1))
    WorkerHeartbeat.objects.create(
        hostname="cpu@box-b",
        queues=["pipelines"],
        started_at=now - timedelta(days=1),
        last_seen_at=now - timedelta(minutes=5),
    )
    run = make_run(owner, name="nightly")
    return {
        "running": _step_on(run, "train", "box-a:4242", status="running"),
        "done": _step_on(run, "load", "box-a:4243"),
        "elsewhere": _step_on(run, "report", "box-b:17"),
        "cached": make_step(run, name="cached-one"),  # no worker: ran nowhere
    }


def test_the_page_lists_each_worker_with_queues_heartbeat_and_whether_it_is_alive(client, teammate, fleet):
    client.force_login(teammate)

    response = client.get(reverse("dashboard:worker-list"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "1 of 2 workers alive." in html
    assert [(w.hostname, w.alive) for w in response.context["workers"]] == [("gpu@box-a", True), ("cpu@box-b", False)]
    live, dead = html.split("<code>gpu@box-a</code>", 1)[1].split("<code>cpu@box-b</code>", 1)
    assert "✓</span> alive" in live
    assert "<code>gpu</code>, <code>pipelines</code>" in live
    assert "✕</span> not alive" in dead
    assert "Last heartbeat" in live
    assert "Concurrency" in live


def test_each_worker_shows_the_steps_running_on_its_host_and_those_it_ran_with_links(client, owner, fleet):
    client.force_login(owner)

    html = client.get(reverse("dashboard:worker-list")).content.decode()

    live, dead = html.split("<code>gpu@box-a</code>", 1)[1].split("<code>cpu@box-b</code>", 1)
    running_now, recently = live.split("Recently ran", 1)
    assert reverse("dashboard:step-detail", args=[fleet["running"].id]) in running_now
    assert reverse("dashboard:run-detail", args=[fleet["running"].pipeline_run_id]) in running_now
    assert "Running now (1)" in running_now
    assert reverse("dashboard:step-detail", args=[fleet["done"].id]) in recently
    assert reverse("dashboard:step-detail", args=[fleet["running"].id]) not in recently
    assert reverse("dashboard:step-detail", args=[fleet["elsewhere"].id]) in dead
    assert reverse("dashboard:step-detail", args=[fleet["elsewhere"].id]) not in live
    assert reverse("dashboard:step-detail", args=[fleet["cached"].id]) not in html


def test_recent_steps_are_capped_per_worker_newest_first(owner, fleet):
    run = make_run(owner, name="many")
    for n in range(RECENT_STEPS_PER_WORKER + 5):
        _step_on(run, f"s{n}", "box-a:1")

    live = workers_for_page(owner)[0]

    assert len(live.recent) == RECENT_STEPS_PER_WORKER
    assert live.recent[0]["name"] == f"s{RECENT_STEPS_PER_WORKER + 4}"


def test_the_page_costs_the_same_queries_for_one_worker_or_many(client, owner, fleet, django_assert_max_num_queries):
    client.force_login(owner)
    now = timezone.now()
    for n in range(20):
        worker_heartbeat(hostname=f"w{n}@host-{n}", queues=["pipelines"], started_at=now)

    with django_assert_max_num_queries(8):
        response = client.get(reverse("dashboard:worker-list"))

    assert len(response.context["workers"]) == 22


def test_with_no_worker_the_page_says_how_to_start_one(client, owner):
    client.force_login(owner)

    html = client.get(reverse("dashboard:worker-list")).content.decode()

    assert 'id="no-workers"' in html
    assert "celery -A config worker" in html


def test_a_signed_out_visitor_is_sent_to_log_in_and_an_inactive_user_sees_no_worker(client, django_user_model, fleet):
    response = client.get(reverse("dashboard:worker-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))

    inactive = django_user_model.objects.create_user("gone", is_active=False)
    assert workers_for_page(inactive) == []


def test_the_nav_links_the_workers_page(client, owner):
    client.force_login(owner)

    html = client.get(reverse("dashboard:home")).content.decode()

    assert f'<a href="{reverse("dashboard:worker-list")}">Workers</a>' in html


@pytest.mark.parametrize(
    ("name", "host"),
    [("celery@box", "box"), ("w1@box.example.com", "box.example.com"), ("box:123", "box"), ("box", "box")],
)
def test_a_worker_name_or_a_step_worker_gives_its_host(name, host):
    assert host_of(name) == host


def test_a_running_step_says_how_long_it_has_run_and_an_unfinished_recent_one_shows_a_dash(client, owner, fleet):
    StepRun.objects.filter(id=fleet["running"].id).update(started_at=timezone.now() - timedelta(seconds=95))
    retrying = _step_on(make_run(owner, name="flaky"), "fetch", "box-a:9", status="retrying")
    StepRun.objects.filter(id=retrying.id).update(finished_at=None)
    client.force_login(owner)

    html = client.get(reverse("dashboard:worker-list")).content.decode()

    running_now, recently = html.split("Recently ran", 1)
    assert "1 min 35 s so far" in running_now or "1 min 36 s so far" in running_now
    fetch_row = recently.split(reverse("dashboard:step-detail", args=[retrying.id]), 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">—</td>' in fetch_row
