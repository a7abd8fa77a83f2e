"""Pages under the site's Content-Security-Policy: the API docs and the login limit.

The console-error check of every browser test catches a CSP violation on any page."""

from __future__ import annotations

import pytest
from django.conf import settings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_show_the_operations_with_nothing_fetched_from_elsewhere(logged_in_page, live_server):
    page = logged_in_page
    elsewhere: list[str] = []

    def only_our_server(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_our_server)
    page.goto("/api/docs/")

    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() > 10
    assert page.get_by_text("Pipelines API").first.is_visible()
    assert elsewhere == []


def test_a_person_who_keeps_getting_the_password_wrong_is_told_to_wait(page, owner, browser_problems):
    # The lockout page answers 429, which Chromium logs as a failed load.
    browser_problems.expect(r"status of 429")
    page.goto("/accounts/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.fill("input[name=username]", "owner")
        page.fill("input[name=password]", "not-the-password")
        with page.expect_navigation():
            page.click("form button[type=submit]")

    assert page.get_by_role("heading", name="Too many failed logins").is_visible()
    assert page.get_by_role("alert").inner_text().count("minutes") == 1
