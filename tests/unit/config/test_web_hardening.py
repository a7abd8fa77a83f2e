"""The web server's own hardening: pinned API docs, static files without collectstatic,
a login rate limit and a Content-Security-Policy on every page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from tests.unit.dashboard_data import save_files, use_fresh_store

pytestmark = pytest.mark.django_db

PASSWORD = "pw-owner-123"  # the shared `owner` fixture's


@pytest.fixture(autouse=True)
def _no_lockouts_from_other_tests():
    # The limiter stays on in the test settings; these tests start from no failures.
    axes_reset()
    yield
    axes_reset()


# --- /api/docs/ ---------------------------------------------------------------------


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_the_api_docs_page_loads_nothing_from_another_origin_and_every_file_it_names_exists(client):
    response = client.get(reverse("api-docs"))
    html = response.content.decode()

    assert response.status_code == 200
    references = _references(html)
    assert references, html
    assert not [url for url in references if re.match(r"^(https?:)?//", url)]
    assert "cdn" not in html.lower()
    # Swagger UI's own files come from the pinned sidecar package, through our static files.
    static_files = [url.removeprefix("/static/") for url in references if url.startswith("/static/")]
    assert any("swagger-ui-bundle.js" in path for path in static_files)
    for path in static_files:
        assert finders.find(path), f"{path} is not a static file"
    # The start-up script is served by the view itself, not inline.
    assert "<script>" not in html
    assert "<style" not in html
    [script] = [url for url in references if url.startswith(reverse("api-docs"))]
    started = client.get(script)
    assert started.status_code == 200
    assert started["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in started.content.decode()


# --- runserver on a fresh checkout ---------------------------------------------------


def test_with_the_local_settings_and_no_collectstatic_pages_and_static_files_are_served(tmp_path):
    """`manage.py runserver` on a fresh checkout: STATIC_ROOT is empty, nothing collected."""
    script = textwrap.dedent(
        """
        import django
        from django.conf import settings
        from django.test import Client
        django.setup()
        assert not any(settings.STATIC_ROOT.iterdir()), "STATIC_ROOT should be empty"
        client = Client(SERVER_NAME="localhost")
        page = client.get("/accounts/login/")
        print("page", page.status_code)
        css = client.get("/static/dashboard/app.css")
        print("css", css.status_code)
        docs = client.get("/api/docs/")
        print("docs", docs.status_code)
        """
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="true",
        PIPELINES_DATA_DIR=str(tmp_path / "data"),
        CELERY_BROKER_URL="memory://",
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["page", "200", "css", "200", "docs", "200"], done.stderr


# --- login rate limit ------------------------------------------------------------------


def _fail(client: Client, url: str, username: str, times: int) -> list[int]:
    return [client.post(url, {"username": username, "password": "wrong"}).status_code for _ in range(times)]


@pytest.mark.parametrize("url_name", ["login", "admin:login"])
def test_repeated_failed_logins_lock_out_that_username_from_that_address(client, owner, url_name):
    url = reverse(url_name)
    owner.is_staff = True
    owner.save()

    failures = _fail(client, url, "owner", settings.AXES_FAILURE_LIMIT)
    locked = client.post(url, {"username": "owner", "password": PASSWORD})

    # The failures before the limit get the form again; the one that reaches it is locked.
    assert failures[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert failures[-1] == 429
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many failed logins" in text
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    assert f"for {minutes} minutes" in text
    assert locked["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_username_and_address(client, owner, teammate):
    url = reverse("login")
    _fail(client, url, "owner", settings.AXES_FAILURE_LIMIT)

    other_user = client.post(url, {"username": "teammate", "password": "pw-teammate-123"})
    other_address = Client(REMOTE_ADDR="10.0.0.9").post(url, {"username": "owner", "password": PASSWORD})

    assert other_user.status_code == 302
    assert other_address.status_code == 302


def test_a_lockout_ends_after_its_time(client, owner, settings):
    url = reverse("login")
    _fail(client, url, "owner", settings.AXES_FAILURE_LIMIT)
    assert client.post(url, {"username": "owner", "password": PASSWORD}).status_code == 429

    from datetime import timedelta

    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(hours=1))

    assert client.post(url, {"username": "owner", "password": PASSWORD}).status_code == 302


def test_behind_proxies_the_client_address_comes_from_the_proxies_own_forwarded_entry(client, owner, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    url = reverse("login")
    behind_proxy = Client(REMOTE_ADDR="10.0.0.1")

    def fail_from(forwarded_for: str) -> list[int]:
        return [
            behind_proxy.post(
                url, {"username": "owner", "password": "wrong"}, HTTP_X_FORWARDED_FOR=forwarded_for
            ).status_code
            for _ in range(settings.AXES_FAILURE_LIMIT)
        ]

    # What the client wrote itself (left of the proxy's entry) changes nothing.
    failures = fail_from("1.1.1.1, 203.0.113.7")
    assert failures[-1] == 429
    assert fail_from("2.2.2.2, 203.0.113.7") == [429] * settings.AXES_FAILURE_LIMIT
    other_client = behind_proxy.post(
        url, {"username": "owner", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.8"
    )
    assert other_client.status_code == 302


def test_api_tokens_are_not_rate_limited_and_work_for_a_locked_out_user(client, owner, owner_token):
    _fail(client, reverse("login"), "owner", settings.AXES_FAILURE_LIMIT)
    api = Client()

    wrong = [
        api.get("/api/v1/runs/", HTTP_AUTHORIZATION="Bearer not-a-token").status_code
        for _ in range(settings.AXES_FAILURE_LIMIT + 2)
    ]
    right = api.get("/api/v1/runs/", HTTP_AUTHORIZATION=f"Bearer {owner_token}")

    assert set(wrong) == {401}
    assert right.status_code == 200


def _settings_value(expression: str, **variables: str) -> subprocess.CompletedProcess:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("PIPELINES_LOGIN", "PIPELINES_PROXY"))
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings.test", **variables)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); from django.conf import settings; print({expression})"],
        env=env,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        timeout=60,
    )


def test_the_limit_and_the_lockout_time_come_from_the_environment():
    configured = _settings_value(
        "settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME.total_seconds()",
        PIPELINES_LOGIN_FAILURE_LIMIT="3",
        PIPELINES_LOGIN_LOCKOUT_MINUTES="2.5",
    )
    refused = _settings_value("1", PIPELINES_LOGIN_FAILURE_LIMIT="0")
    proxies = _settings_value("settings.TRUSTED_PROXY_COUNT", PIPELINES_PROXY_COUNT="2")

    assert configured.stdout.strip() == "3 150.0", configured.stderr
    assert refused.returncode != 0
    assert "PIPELINES_LOGIN_FAILURE_LIMIT must be at least 1" in refused.stderr
    assert proxies.stdout.strip() == "2", proxies.stderr


def test_a_metrics_token_file_ending_in_a_newline_gives_the_token_without_it(tmp_path):
    token_file = tmp_path / "metrics_token"
    token_file.write_text("scrape-me\n")

    read = _settings_value('repr(settings.PIPELINES["METRICS_TOKEN"])', PIPELINES_METRICS_TOKEN_FILE=str(token_file))

    assert read.stdout.strip() == "'scrape-me'", read.stderr


# --- Content-Security-Policy ------------------------------------------------------------


def _policy(response) -> dict[str, str]:
    directives = (part.strip().split(None, 1) for part in response["Content-Security-Policy"].split(";"))
    return {words[0]: (words[1] if len(words) > 1 else "") for words in directives if words}


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/api/docs/", "/"])
def test_every_page_sends_a_strict_content_security_policy(client, owner, path):
    client.force_login(owner)
    response = client.get(path)

    assert response.status_code == 200
    policy = _policy(response)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'self'"
    assert policy["form-action"] == "'self'"


def test_no_template_has_inline_script_or_style():
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/(?:ld\+)?json)|<style|\sstyle=|\son[a-z]+=", re.I)
    offenders = []
    for folder, _, names in os.walk(settings.BASE_DIR / "templates"):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as handle:
                offenders += [f"{path}: {match.group(0)}" for match in inline.finditer(handle.read())]
    assert offenders == []


def test_the_html_preview_keeps_its_own_sandbox_policy(client, owner, settings, tmp_path):
    use_fresh_store(settings, tmp_path)
    saved = save_files("report", {"report.html": b"<h1>Report</h1>"})
    client.force_login(owner)

    raw = client.get(reverse("dashboard:artifact-version-preview", args=[saved.id]))

    assert raw.status_code == 200
    assert raw["Content-Security-Policy"].split(";")[0] == "sandbox"
    assert "script-src" not in raw["Content-Security-Policy"]
