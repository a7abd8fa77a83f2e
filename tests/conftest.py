from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from pipelines import dispatch
from pipelines.services.tokens import api_token_create
from tests.fakes import FakeBroker

# A live server and a real worker (one per session), for the integration and browser tests.
pytest_plugins = ["tests.live_helpers"]


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", "owner@example.com", "pw-owner-123")


@pytest.fixture
def teammate(django_user_model):
    return django_user_model.objects.create_user("teammate", "teammate@example.com", "pw-teammate-123")


@pytest.fixture
def owner_token(owner) -> str:
    _, key = api_token_create(user=owner)
    return key


@pytest.fixture
def api(owner_token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {owner_token}")
    return client


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3 server, a separate process on a free local port, for the whole session."""
    from tests.s3_server import start_s3_server

    server = start_s3_server(tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def s3_store_url(s3_server, monkeypatch) -> str:
    """`s3://<fresh bucket>/artifacts`, with this process's AWS variables pointing at the server.

    The variables are in os.environ, so a worker started by the test inherits them.
    """
    for name, value in s3_server.environ.items():
        monkeypatch.setenv(name, value)
    return f"s3://{s3_server.create_bucket()}/artifacts"


@pytest.fixture
def broker(monkeypatch) -> FakeBroker:
    """The broker, faked: what would be sent is recorded (`.sent`, `.sent_to`), nothing runs."""
    fake = FakeBroker()
    monkeypatch.setattr(dispatch, "send_step", fake.send_step)
    return fake


@pytest.fixture
def no_broker(broker) -> FakeBroker:
    """For tests that only need sending to do nothing: `pytestmark = pytest.mark.usefixtures("no_broker")`."""
    return broker
