"""`manage.py healthcheck`: the readiness checks for containers, and `--worker`, which
looks for a fresh worker heartbeat on this machine."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from pipelines import health
from pipelines.models import WorkerHeartbeat
from tests.unit.dashboard_data import use_fresh_store

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_checks(settings, tmp_path):
    use_fresh_store(settings, tmp_path)
    health._migrated.clear()
    yield
    health._migrated.clear()


def beat(hostname: str, *, seconds_ago: float = 0.0) -> None:
    seen = timezone.now() - timedelta(seconds=seconds_ago)
    WorkerHeartbeat.objects.create(hostname=hostname, queues=["pipelines"], started_at=seen, last_seen_at=seen)


def test_it_prints_each_check_and_exits_0_when_ready(capsys):
    call_command("healthcheck")

    out = capsys.readouterr().out
    for name in ("database", "migrations", "broker", "artifact_store"):
        assert f"{name}: ok (" in out


def test_it_exits_1_naming_the_check_that_failed():
    app_label, name = MigrationLoader(connection).graph.leaf_nodes("pipelines")[0]
    MigrationRecorder.Migration.objects.filter(app=app_label, name=name).delete()

    with pytest.raises(CommandError, match="not ready") as caught:
        call_command("healthcheck")

    assert caught.value.returncode == 1


def test_worker_is_alive_when_a_worker_of_this_machine_heartbeated_recently(capsys):
    beat(f"pipelines@{socket.gethostname()}")
    beat("gpu@another-machine")

    call_command("healthcheck", "--worker")

    assert capsys.readouterr().out.strip() == f"alive: pipelines@{socket.gethostname()}"


def test_worker_is_not_alive_when_the_heartbeat_is_stale_or_on_another_machine(settings):
    beat(f"pipelines@{socket.gethostname()}", seconds_ago=settings.PIPELINES["WORKER_TIMEOUT"] + 5)
    beat("gpu@another-machine")

    with pytest.raises(CommandError, match="no live worker on this machine") as caught:
        call_command("healthcheck", "--worker")

    assert caught.value.returncode == 1


def test_hostname_names_the_worker_exactly(capsys):
    beat("gpu@another-machine")

    call_command("healthcheck", "--worker", "--hostname", "gpu@another-machine")
    assert "gpu@another-machine" in capsys.readouterr().out

    with pytest.raises(CommandError, match="no live worker gpu@other"):
        call_command("healthcheck", "--worker", "--hostname", "gpu@other")


def test_hostname_without_worker_is_refused_saying_why():
    with pytest.raises(CommandError, match="--hostname goes with --worker"):
        call_command("healthcheck", "--hostname", "gpu@host")
