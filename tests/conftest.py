from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from pipelines.services.tokens import api_token_create

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
