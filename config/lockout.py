"""How django-axes sees a login: the client's address (AXES_CLIENT_IP_CALLABLE) and the
page a locked-out login gets (AXES_LOCKOUT_CALLABLE)."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def locked_out_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    # Axes' own page states the time as an ISO 8601 duration ("PT15M"); this says it
    # in minutes, and answers 429 so clients and proxies see a rate limit.
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    response = TemplateResponse(
        request,
        "registration/locked_out.html",
        {"lockout_minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response.render()


def client_address(request: HttpRequest) -> str | None:
    """The address the login limit counts by.

    Behind N reverse proxies (TRUSTED_PROXY_COUNT) every request comes from the
    nearest proxy, and each proxy appends the address it was reached from to
    X-Forwarded-For: the client's is the N-th from the right. Entries further left
    are whatever the client sent, so they are never used.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")
