"""`/healthz`, `/readyz` and `/metrics`, and the two middlewares that serve them.

- `/healthz`: the process answers (no database call): for a load balancer.
- `/readyz`: database reachable and migrated, broker reachable, artifact store
  writable (`pipelines.health`), each named with its latency; 503 when one fails.
- `/metrics`: the Prometheus text format (`pipelines.metrics`), for the bearer of
  PIPELINES_METRICS_TOKEN only. Unset, nobody may read it: 401 without credentials,
  403 with any other, the message saying which variable to set.

The probes need no login and hold nothing secret. `HealthProbes` answers them before
any other middleware: a load balancer or Kubernetes asks by the machine's address over
plain http, which ALLOWED_HOSTS and the HTTPS redirect would refuse, and there is no
session, CSRF or login limiter to pass for an anonymous GET.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe
from rest_framework import authentication, exceptions, permissions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.views import APIView

from pipelines import health, metrics
from pipelines.api.authentication import ApiTokenAuthentication

logger = logging.getLogger(__name__)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    return _no_store(JsonResponse({"status": "ok"}))


@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    results = health.readiness()
    ready = all(result.ok for result in results)
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {result.name: {k: v for k, v in result.as_dict().items() if k != "name"} for result in results},
    }
    return _no_store(JsonResponse(body, status=200 if ready else 503))


class HealthProbes:
    """Answers /healthz and /readyz before the rest of the middleware (see the module)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return healthz(request)
        if request.path == "/readyz":
            return readyz(request)
        return self.get_response(request)


class RequestLatency:
    """Times every request into `pipelines_http_request_duration_seconds`, labelled by
    the URL pattern it matched (never the path: ids would make the labels unbounded)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        metrics.observe_request(
            route=match.route if match is not None else None,
            method=request.method or "",
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response


# --- /metrics ------------------------------------------------------------------------


class MetricsScraper:
    """`request.auth` of a request that showed the metrics token."""


def metrics_token() -> str:
    return settings.PIPELINES.get("METRICS_TOKEN") or ""


class MetricsTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <PIPELINES_METRICS_TOKEN>`, compared in constant time.
    Any other bearer goes on to the API token check (so a user's token gets 403)."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, MetricsScraper] | None:
        expected = metrics_token()
        header = authentication.get_authorization_header(request).split()
        if not expected or len(header) != 2 or header[0].lower() != b"bearer":
            return None
        if hmac.compare_digest(header[1], expected.encode()):
            return AnonymousUser(), MetricsScraper()
        return None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="metrics"'


class IsMetricsScraper(permissions.BasePermission):
    @property
    def message(self) -> str:  # type: ignore[override]
        if not metrics_token():
            return (
                "Metrics are off: set PIPELINES_METRICS_TOKEN on the server, then scrape with "
                "'Authorization: Bearer <that token>'."
            )
        return "/metrics needs the metrics token (PIPELINES_METRICS_TOKEN) as 'Authorization: Bearer <token>'."

    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.auth, MetricsScraper)


class FirstRenderer(BaseContentNegotiation):
    """A scraper's Accept header (openmetrics, text/plain) must not make a 406: the
    exposition is always text, errors always JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):  # type: ignore[no-untyped-def]
        return renderers[0], renderers[0].media_type


class MetricsView(APIView):
    authentication_classes = [MetricsTokenAuthentication, ApiTokenAuthentication]
    permission_classes = [IsMetricsScraper]
    content_negotiation_class = FirstRenderer
    schema = None  # not part of the API's OpenAPI description

    def permission_denied(self, request: Request, message: str | None = None, code: str | None = None) -> None:
        if request.authenticators and not request.successful_authenticator:
            # DRF's own 401 says only "not provided": say what to send.
            raise exceptions.NotAuthenticated(IsMetricsScraper().message)
        super().permission_denied(request, message=message, code=code)

    def get(self, request: Request) -> HttpResponse:
        try:
            body = metrics.render()
        except DatabaseError as exc:
            # Prometheus records the failed scrape (`up` is 0); the reason stays generic.
            logger.warning("/metrics: the database does not answer: %s", type(exc).__name__)
            return _no_store(
                JsonResponse(
                    {"detail": "The database does not answer; see /readyz.", "code": "unavailable"}, status=503
                )
            )
        return _no_store(HttpResponse(body, content_type=metrics.CONTENT_TYPE))
