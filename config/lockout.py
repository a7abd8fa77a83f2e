"""The page a login locked out by django-axes gets (AXES_LOCKOUT_CALLABLE)."""

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
