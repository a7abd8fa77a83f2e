"""The site's Content-Security-Policy is built for every HTML answer, under /api/
too, but not for the API's JSON answers (no page; building it cost each request)."""

from __future__ import annotations

import pytest
from django.http import HttpResponse, JsonResponse
from django.test import RequestFactory

from pipelines.api.middleware import ContentSecurityPolicy

pytestmark = pytest.mark.django_db


def test_a_json_answer_of_the_api_carries_no_policy_but_nosniff(api):
    response = api.get("/api/v1/runs/")

    assert response.status_code == 200
    assert "Content-Security-Policy" not in response
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_json_error_of_the_api_carries_no_policy(api):
    response = api.get("/api/v1/runs/999999/")

    assert response.status_code == 404
    assert "Content-Security-Policy" not in response


@pytest.mark.parametrize("path", ["/api/docs/", "/accounts/login/"])
def test_pages_keep_the_policy(client, owner, path):
    client.force_login(owner)

    response = client.get(path)

    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"].split("; ")


@pytest.mark.parametrize(
    ("path", "response", "has_policy"),
    [
        ("/api/v1/anything/", JsonResponse({}), False),
        ("/api/v1/anything/", HttpResponse("<p>x</p>", content_type="text/html; charset=utf-8"), True),
        ("/api/docs/", HttpResponse("{}", content_type="application/json"), True),
        ("/runs/", HttpResponse("<p>x</p>"), True),
    ],
)
def test_every_html_answer_keeps_the_policy_wherever_it_is(path, response, has_policy):
    middleware = ContentSecurityPolicy(lambda request: response)

    answered = middleware(RequestFactory().get(path))

    assert ("Content-Security-Policy" in answered) is has_policy
