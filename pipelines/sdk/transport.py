"""HTTP for the Client: one keep-alive connection pool per server, on urllib3.

The Client's reads are small and frequent (a step looking up an artifact's metadata
is one request of a few hundred bytes), so what a request costs on the caller's side
matters as much as the server's time. `requests` builds a prepared request, merges
session settings, runs hooks and walks a cookie jar for each call: over a millisecond
on a slow core, more than the server takes to answer. urllib3, which `requests`
itself stands on, does the same HTTP with none of that.

urllib3 is imported on first use, so `from pipelines import step` stays fast.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit


class TransportError(Exception):
    """The request got no HTTP answer."""


class ServerUnreachable(TransportError):
    """Nothing answered at the server's address (refused, reset, unknown host)."""


class ServerTimeout(TransportError):
    """The server took the request but did not answer in time."""


@dataclass(frozen=True)
class Response:
    status_code: int
    content: bytes
    headers: Mapping[str, str]

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


def redirect_explanation(url: str, location: str | None) -> str:
    """Why the server redirected a request for `url` to `location`, and what to set.

    Redirects are never followed (see HttpTransport); the usual causes are a
    deployment's HTTPS settings, which the user cannot see from here.
    """
    if not location:
        return f"The server answered {url} with a redirect to nowhere (no Location header)."
    target = urljoin(url, location)
    asked, pointed = urlsplit(url), urlsplit(target)
    if asked.scheme == "http" and pointed.scheme == "https":
        return (
            f"The server redirects plain http to https ({url} -> {target}): it runs with "
            "SECURE_SSL_REDIRECT, which config.settings.production turns on (DJANGO_SECURE_SSL_REDIRECT). "
            "Set PIPELINES_SERVER_URL to the https:// form of its address."
        )
    if target == url:
        return (
            f"The server redirects {url} to itself: it does not see that the request came over https. "
            "Behind a proxy that ends TLS, the proxy must send `X-Forwarded-Proto: https` (the server trusts "
            "it through SECURE_PROXY_SSL_HEADER), e.g. nginx `proxy_set_header X-Forwarded-Proto $scheme;`."
        )
    return f"The server redirects {url} to {target}. Set PIPELINES_SERVER_URL to the address it points at."


class HttpTransport:
    """Requests to one server (`scheme://host[:port][/prefix]`), with a bearer token.

    Thread-safe: the pool hands each thread its own connection. Redirects are not
    followed: the API never redirects a correct request, and following one would
    send the token wherever it points.
    """

    def __init__(self, server_url: str, token: str, *, max_connections: int = 8) -> None:
        import urllib3

        parts = urlsplit(server_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Server URL {server_url!r} must look like http(s)://host[:port].")
        self._pool = urllib3.connection_from_url(
            f"{parts.scheme}://{parts.netloc}",
            maxsize=max_connections,
            block=False,
            # One try, as `requests` does by default: a POST must never be sent twice.
            retries=urllib3.Retry(total=0, read=False, redirect=False, raise_on_redirect=False),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        self._urllib3 = urllib3

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Response:
        """`url` is a full URL on this server (as the Client builds it)."""
        path = urlsplit(url).path
        query = _query(params)
        body, headers = None, None
        if json is not None:
            # As `requests` does: NaN and infinities are not JSON, so refuse them here.
            body = jsonlib.dumps(json, allow_nan=False).encode()
            headers = {**self._pool.headers, "Content-Type": "application/json"}
        errors = self._urllib3.exceptions
        try:
            answer = self._pool.urlopen(
                method,
                f"{path}?{query}" if query else path,
                body=body,
                headers=headers,
                timeout=self._urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
                redirect=False,
                preload_content=True,
            )
        except errors.HTTPError as exc:
            # With no retries, a failed connect arrives wrapped in MaxRetryError.
            reason = exc.reason if isinstance(exc, errors.MaxRetryError) and exc.reason else exc
            if isinstance(reason, errors.ReadTimeoutError):
                raise ServerTimeout(f"{method} {path} got no answer within {timeout:g} s") from exc
            raise ServerUnreachable(str(reason)) from exc
        return Response(status_code=answer.status, content=answer.data, headers=answer.headers)

    def download(
        self, url: str, *, write: Callable[[bytes], object], timeout: float, chunk_size: int = 1024 * 1024
    ) -> Response:
        """GET `url`, handing a 200 answer's body to `write` chunk by chunk as it
        arrives (an artifact may be larger than memory). Any other answer is returned
        whole in `content` (errors are a few hundred bytes of JSON); a 200's is empty.
        `timeout` bounds each wait for bytes, not the whole transfer."""
        path = urlsplit(url).path
        errors = self._urllib3.exceptions
        try:
            answer = self._pool.urlopen(
                "GET",
                path,
                headers={**self._pool.headers, "Accept": "*/*"},
                timeout=self._urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
                redirect=False,
                preload_content=False,
            )
        except errors.HTTPError as exc:
            reason = exc.reason if isinstance(exc, errors.MaxRetryError) and exc.reason else exc
            if isinstance(reason, errors.ReadTimeoutError):
                raise ServerTimeout(f"GET {path} got no answer within {timeout:g} s") from exc
            raise ServerUnreachable(str(reason)) from exc
        try:
            if answer.status != 200:
                return Response(status_code=answer.status, content=answer.read(), headers=answer.headers)
            for chunk in answer.stream(chunk_size):
                write(chunk)
        except BaseException as exc:
            # A connection left mid-body must not go back to the pool for reuse.
            answer.close()
            if isinstance(exc, errors.ReadTimeoutError):
                raise ServerTimeout(f"GET {path} stalled: no bytes for {timeout:g} s") from exc
            if isinstance(exc, errors.ProtocolError | errors.HTTPError):
                raise ServerUnreachable(f"GET {path} was cut off: {exc}") from exc
            raise
        finally:
            answer.release_conn()
        return Response(status_code=answer.status, content=b"", headers=answer.headers)


def _query(params: Mapping[str, Any] | None) -> str:
    """The query string, leaving out None values (as `requests` does)."""
    if not params:
        return ""
    return urlencode([(key, value) for key, value in params.items() if value is not None], doseq=True)
