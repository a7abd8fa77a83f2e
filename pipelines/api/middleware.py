"""Checks on every request before a view runs, and the API's error shape for the
answers Django gives by itself.

- NUL characters in the path, the query string or a header are refused with 400, on
  every URL: PostgreSQL cannot store or compare text holding NUL (psycopg raises),
  which was a 500 on every lookup by name, every text filter and, through the session
  cookie, every page. JSON bodies are checked by `pipelines.api.parsers.JSONParser`.
- Under /api/, a body declared larger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused
  with 413 before it is read; one that does not declare its length is cut off by the
  parser.
- Under /api/, Django's own HTML error pages (a URL that matches no route, a request
  Django refuses before DRF sees it) become the API's JSON error shape.

`ContentSecurityPolicy` is django-csp's middleware but for the API's answers that are
not HTML.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.response import HttpResponseBase

from pipelines.api.parsers import NUL_MESSAGE, body_limit, too_large

API_PREFIX = "/api/"
# Pages for people, not programs: the schema is JSON already, the docs are HTML.
_HTML_UNDER_API = ("/api/docs/",)


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX) and not request.path.startswith(_HTML_UNDER_API)


class ContentSecurityPolicy(CSPMiddleware):
    """django-csp's middleware, skipping the API's answers but HTML ones.

    A policy tells a browser what a page may load and run; a JSON answer is no page
    (Django sends `nosniff` with it, so no browser renders it as one), and the policy
    built for each cost every API request ~50 µs. django-csp's EXCLUDE_URL_PREFIXES
    leaves the header out but builds the policy all the same. Every HTML answer keeps
    it, under /api/ too (the docs; a download sets its own sandbox policy).
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if is_api_request(request) and not response.get("Content-Type", "").startswith("text/html"):
            return response
        return super().process_response(request, response)


class RequestGuard:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        is_api = is_api_request(request)
        where = _nul_in(request)
        if where is not None:
            message = f"{NUL_MESSAGE} in the {where}."
            if is_api:
                return JsonResponse({"detail": message, "code": "invalid", "errors": {where: [message]}}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        if not is_api:
            return self.get_response(request)
        if _declared_length(request) > (body_limit() or float("inf")):
            error = too_large()
            return JsonResponse({"detail": str(error.detail), "code": "too_large"}, status=error.status_code)
        response = self.get_response(request)
        if response.status_code >= 400 and response.get("Content-Type", "").startswith("text/html"):
            return _as_api_error(request, response.status_code)
        return response


def _nul_in(request: HttpRequest) -> str | None:
    if "\x00" in request.path:
        return "path"
    for key, value in request.META.items():
        # Headers reach the database too: the session cookie, the login limiter's
        # user agent and client address.
        if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
            return f"header {key[5:].replace('_', '-').title()!r}"
    query = request.META.get("QUERY_STRING", "")
    if "%00" not in query and "\x00" not in query:
        return None
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return f"query parameter {name!r}"
    return None


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _as_api_error(request: HttpRequest, status: int) -> JsonResponse:
    if status == HTTPStatus.NOT_FOUND:
        detail = f"No API endpoint at {request.path!r}; the API's URLs are listed at /api/schema/."
        code = "not_found"
    else:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        detail = f"{phrase}." if status >= 500 else f"{phrase}: the server refused this request before reading it."
        code = phrase.lower().replace(" ", "_")
    return JsonResponse({"detail": detail, "code": code}, status=status)
