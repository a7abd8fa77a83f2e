"""/healthz and /readyz: the probes a load balancer and Kubernetes call, without login."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from config.celery import app
from pipelines import health
from tests.unit.dashboard_data import use_fresh_store

pytestmark = pytest.mark.django_db

SECRET_PASSWORD = "s3cr3t-pa55word"


@pytest.fixture(autouse=True)
def fresh_checks(settings, tmp_path):
    # Each test starts with no remembered success (the migration plan, an object store).
    use_fresh_store(settings, tmp_path)
    health._migrated.clear()
    health._store_ok_until.clear()
    yield
    health._migrated.clear()
    health._store_ok_until.clear()


def test_healthz_answers_ok_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_readyz_names_each_check_with_its_latency_when_all_pass(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "broker", "artifact_store"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert isinstance(check["latency_ms"], float)
        assert "reason" not in check


def test_the_probes_answer_a_load_balancer_over_plain_http_by_address(client, settings):
    # Production: HTTPS redirect on, only the public name allowed; the balancer asks
    # http://10.0.0.5:8000/healthz.
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["pipelines.example.com"]

    assert client.get("/healthz", HTTP_HOST="10.0.0.5:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.0.0.5:8000").status_code == 200
    # Everything else keeps the redirect.
    assert client.get("/api/v1/", HTTP_HOST="pipelines.example.com").status_code == 301


def test_readyz_is_503_naming_the_migrations_when_one_is_not_applied(client):
    app_label, name = MigrationLoader(connection).graph.leaf_nodes("pipelines")[0]
    MigrationRecorder.Migration.objects.filter(app=app_label, name=name).delete()

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["migrations"]["ok"] is False
    assert f"pipelines.{name}" in body["checks"]["migrations"]["reason"]
    assert "manage.py migrate" in body["checks"]["migrations"]["reason"]


def test_a_migrated_database_is_checked_once_per_process(client, django_assert_max_num_queries):
    assert client.get("/readyz").status_code == 200

    with django_assert_max_num_queries(1):  # SELECT 1; no second read of the migration plan
        assert client.get("/readyz").status_code == 200


def test_readyz_is_503_naming_the_broker_when_it_does_not_answer_and_shows_no_password(client, monkeypatch):
    with socket_that_refuses() as port:
        monkeypatch.setitem(app.conf, "broker_url", f"redis://:{SECRET_PASSWORD}@127.0.0.1:{port}/0")
        monkeypatch.setitem(app.conf, "broker_transport", None)
        monkeypatch.setitem(app.conf, "broker_transport_options", {})
        monkeypatch.setattr(health, "BROKER_TIMEOUT", 0.5)

        response = client.get("/readyz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False
    assert "broker does not answer" in checks["broker"]["reason"]
    assert checks["database"]["ok"]
    assert checks["artifact_store"]["ok"]
    assert SECRET_PASSWORD not in response.content.decode()
    assert "127.0.0.1" not in response.content.decode()


def test_readyz_is_503_when_a_folder_of_the_filesystem_broker_is_gone(client, settings, tmp_path):
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    options["data_folder_in"] = str(tmp_path / "no-such-queue-folder")
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = options

    response = client.get("/readyz")

    assert response.status_code == 503
    assert "filesystem broker" in response.json()["checks"]["broker"]["reason"]


def test_readyz_is_503_naming_the_store_when_it_cannot_be_written(client, settings, tmp_path):
    # A store folder that cannot be made (a file is in the way), whoever runs the test.
    (tmp_path / "a-file").write_text("")
    store = tmp_path / "a-file" / "artifacts"
    settings.PIPELINES = {**settings.PIPELINES, "ARTIFACT_STORE": str(store)}

    response = client.get("/readyz")

    assert response.status_code == 503
    check = response.json()["checks"]["artifact_store"]
    assert check["ok"] is False
    assert "artifact store cannot be written" in check["reason"]
    assert str(store) not in response.content.decode()  # paths and URLs stay in the server log


def test_readyz_is_503_without_a_500_when_the_database_does_not_answer(client, monkeypatch):
    from django.db import OperationalError, connections

    def refuse(*args: object, **kwargs: object) -> None:
        # What psycopg says when the server is away: it quotes the host.
        raise OperationalError(f'connection to server at "db.internal" failed (password "{SECRET_PASSWORD}")')

    monkeypatch.setattr(connections["default"], "cursor", refuse)

    response = client.get("/readyz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["reason"].startswith("the database does not answer (OperationalError)")
    assert "DATABASE_URL" in checks["database"]["reason"]
    assert checks["migrations"] == {
        "ok": False,
        "latency_ms": 0.0,
        "reason": "not checked: the database does not answer",
    }
    assert "db.internal" not in response.content.decode()
    assert SECRET_PASSWORD not in response.content.decode()


def test_the_probes_refuse_writes(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


class socket_that_refuses:
    """A local port nothing listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        pass
