"""A worker records its pool size with its heartbeat; the workers page shows it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from pipelines.models import WorkerHeartbeat
from pipelines.selectors.workers import workers_for_page
from pipelines.services.workers import worker_heartbeat
from pipelines.worker_signals import pool_size


def test_the_pool_size_is_the_pools_process_count_first():
    consumer = SimpleNamespace(
        pool=SimpleNamespace(num_processes=3),
        controller=SimpleNamespace(concurrency=8),
        app=SimpleNamespace(conf=SimpleNamespace(worker_concurrency=16)),
    )

    assert pool_size(consumer) == 3


def test_without_a_pool_the_pool_size_is_the_workers_then_the_apps_concurrency():
    app = SimpleNamespace(conf=SimpleNamespace(worker_concurrency=16))

    assert pool_size(SimpleNamespace(controller=SimpleNamespace(concurrency=8), app=app)) == 8
    assert pool_size(SimpleNamespace(pool=None, app=app)) == 16


@pytest.mark.parametrize("consumer", [None, object(), SimpleNamespace(pool=SimpleNamespace(num_processes=0))])
def test_a_worker_that_does_not_say_has_no_pool_size(consumer):
    assert pool_size(consumer) is None


@pytest.mark.django_db
def test_the_heartbeat_records_the_concurrency_and_a_later_one_updates_it():
    now = timezone.now()
    worker_heartbeat(hostname="w@box", queues=["pipelines"], started_at=now, concurrency=4)
    assert WorkerHeartbeat.objects.get(hostname="w@box").concurrency == 4

    worker_heartbeat(hostname="w@box", queues=["pipelines"], started_at=now, concurrency=2)
    assert WorkerHeartbeat.objects.get(hostname="w@box").concurrency == 2

    worker_heartbeat(hostname="w@box", queues=["pipelines"], started_at=now)
    assert WorkerHeartbeat.objects.get(hostname="w@box").concurrency is None


@pytest.mark.django_db
def test_the_workers_page_shows_the_recorded_concurrency_and_says_when_there_is_none(client, teammate):
    now = timezone.now()
    worker_heartbeat(hostname="big@box-a", queues=["pipelines"], started_at=now, concurrency=12)
    worker_heartbeat(hostname="old@box-b", queues=["pipelines"], started_at=now)
    client.force_login(teammate)

    assert {row.hostname: row.concurrency for row in workers_for_page(teammate)} == {
        "big@box-a": 12,
        "old@box-b": None,
    }
    html = client.get(reverse("dashboard:worker-list")).content.decode()
    big, old = html.split("<code>big@box-a</code>", 1)[1].split("<code>old@box-b</code>", 1)
    assert "<dt>Concurrency</dt><dd>12</dd>" in big
    assert "<dt>Concurrency</dt><dd>not recorded</dd>" in old
