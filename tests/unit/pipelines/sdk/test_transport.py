"""The Client's HTTP against a real (tiny) HTTP server: what goes on the wire and
what a caller sees when the server is missing, slow or redirects."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pipelines.client import Client
from pipelines.sdk.exceptions import ServerError
from pipelines.sdk.transport import HttpTransport, ServerTimeout


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn speaks it

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(  # type: ignore[attr-defined]
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "body": body,
                "client_port": self.client_address[1],
            }
        )
        if self.path.startswith("/prefix/api/v1/slow/"):
            time.sleep(1.0)
        if self.path.startswith("/prefix/api/v1/moved/"):
            self.send_response(301)
            self.send_header("Location", "https://elsewhere.example/api/v1/moved/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:  # the test output stays quiet
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.seen = []  # type: ignore[attr-defined]
    httpd.handle_error = lambda request, address: None  # a client that timed out hung up: expected
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/prefix"


def test_requests_carry_the_token_the_query_and_the_json_body(server):
    client = Client(server_url=_url(server), api_token="pip_secret-token")

    assert client._request("GET", "things/", params={"name": "a b", "skip": None, "tag": ["x", "y"]}) == {"ok": True}
    client._request("POST", "things/", json={"value": "ünïcode"})

    get, post = server.seen
    assert get["method"] == "GET"
    assert get["path"] == "/prefix/api/v1/things/?name=a+b&tag=x&tag=y"  # None values are left out
    assert get["headers"]["Authorization"] == "Bearer pip_secret-token"
    assert post["headers"]["Content-Type"] == "application/json"
    assert json.loads(post["body"]) == {"value": "ünïcode"}


def test_one_connection_is_kept_alive_across_requests(server):
    client = Client(server_url=_url(server), api_token="t")
    for _ in range(5):
        client._request("GET", "things/")

    assert len(server.seen) == 5
    assert len({request["client_port"] for request in server.seen}) == 1


def test_nan_is_refused_before_anything_is_sent(server):
    client = Client(server_url=_url(server), api_token="t")

    with pytest.raises(ValueError, match="JSON"):
        client._request("POST", "things/", json={"value": float("nan")})
    assert server.seen == []


def test_a_server_that_is_not_there_is_named_with_what_to_do():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(server_url=f"http://127.0.0.1:{port}", api_token="pip_secret-token")

    with pytest.raises(ServerError, match="Cannot reach the pipelines server") as caught:
        client._request("GET", "things/")
    assert "make demo" in str(caught.value)
    assert "pip_secret-token" not in str(caught.value)


def test_a_slow_server_times_out_with_a_clear_error(server):
    client = Client(server_url=_url(server), api_token="t")

    with pytest.raises(ServerError, match="too slow"):
        client._request("GET", "slow/", timeout=0.2)


def test_a_redirect_is_not_followed_and_says_where_it_points(server):
    client = Client(server_url=_url(server), api_token="pip_secret-token")

    with pytest.raises(ServerError, match=re.escape("https://elsewhere.example")) as caught:
        client._request("GET", "moved/")
    assert caught.value.status_code == 301
    assert len(server.seen) == 1  # the token went nowhere else


def test_a_server_url_must_be_http():
    with pytest.raises(ValueError, match="http"):
        HttpTransport("ftp://example.com", "t")


def test_timeouts_are_their_own_error(server):
    transport = HttpTransport(_url(server), "t")

    with pytest.raises(ServerTimeout):
        transport.request("GET", f"{_url(server)}/api/v1/slow/", timeout=0.2)
