"""Who gets in, and how the pages fit the screen."""

from __future__ import annotations

import pytest

from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("path", ["/", "/runs/", "/artifacts/", "/models/", "/metadata/", "/compare/"])
def test_an_anonymous_visitor_is_sent_to_the_login_page(page, live_server, path):
    page.goto(path)

    assert page.url.startswith(f"{live_server.url}/accounts/login/?next=")
    assert page.locator("input[name=password]").is_visible()


def test_a_person_logs_in_through_the_form_and_lands_on_the_home_page(page, owner, live_server):
    log_in(page, username="owner", password="pw-owner-123")

    assert page.url == f"{live_server.url}/"
    assert page.get_by_role("button", name="Log out owner").is_visible()


def test_a_wrong_password_keeps_the_visitor_out(page, owner, live_server):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", "not-the-password")
    page.click("form button[type=submit]")

    assert page.url.startswith(f"{live_server.url}/accounts/login/")
    page.goto("/")
    assert page.url.startswith(f"{live_server.url}/accounts/login/")
