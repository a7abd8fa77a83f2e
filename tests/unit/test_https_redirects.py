"""HTTPS behind a proxy: what the server does with plain http and with the proxy's
X-Forwarded-Proto, and what the SDK tells a user whose PIPELINES_SERVER_URL does not
match (it never follows a redirect, so it must say why it got one)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.client import Client
from pipelines.sdk.exceptions import ServerError
from pipelines.sdk.transport import redirect_explanation

pytestmark = pytest.mark.django_db


@pytest.fixture
def https_only(settings):
    # What config.settings.production sets (DJANGO_SECURE_SSL_REDIRECT defaults to on).
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["pipelines.example.com"]


def test_plain_http_is_redirected_to_https_and_the_sdk_says_which_setting_does_it(client, https_only):
    response = client.get("/api/v1/runs/", HTTP_HOST="pipelines.example.com")

    assert response.status_code == 301
    message = redirect_explanation("http://pipelines.example.com/api/v1/runs/", response["Location"])
    assert "SECURE_SSL_REDIRECT" in message
    assert "DJANGO_SECURE_SSL_REDIRECT" in message
    assert "PIPELINES_SERVER_URL" in message
    assert "https://" in message


def test_a_request_the_proxy_marks_as_https_is_served(client, https_only):
    response = client.get("/api/v1/runs/", HTTP_HOST="pipelines.example.com", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code in (401, 403)  # served: only the token is missing


def test_a_proxy_that_does_not_say_https_makes_the_server_redirect_to_the_same_address(client, https_only):
    # The proxy ends TLS and forwards plain http without X-Forwarded-Proto: the server
    # sends the client back to the https address it came from, for ever.
    response = client.get("/api/v1/runs/", HTTP_HOST="pipelines.example.com")
    message = redirect_explanation("https://pipelines.example.com/api/v1/runs/", response["Location"])

    assert response["Location"] == "https://pipelines.example.com/api/v1/runs/"
    assert "X-Forwarded-Proto: https" in message
    assert "SECURE_PROXY_SSL_HEADER" in message


def test_any_other_redirect_names_where_it_points():
    message = redirect_explanation("http://old.example.com/api/v1/runs/", "http://new.example.com/api/v1/runs/")

    assert "http://new.example.com/api/v1/runs/" in message
    assert "PIPELINES_SERVER_URL" in message
    assert "Location" in redirect_explanation("http://a.example.com/", None)


class RedirectToHttps(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(301)
        self.send_header("Location", f"https://{self.headers['Host']}{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RedirectToHttps)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_client_on_plain_http_to_an_https_only_server_is_told_to_use_https(redirecting_server):
    client = Client(server_url=redirecting_server, api_token="pip_token")

    with pytest.raises(ServerError) as caught:
        client.list_pipeline_runs()

    assert caught.value.status_code == 301
    assert "SECURE_SSL_REDIRECT" in str(caught.value)
    assert "Set PIPELINES_SERVER_URL to the https:// form of its address" in str(caught.value)
