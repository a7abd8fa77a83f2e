"""One error shape for the whole API: {"detail": str, "code": str, "errors"?: {...}}.

`detail` is one readable sentence (the SDK shows it as is); `errors`, for invalid
input, maps each field to its messages.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from pipelines.api.parsers import too_large


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Raised by Django when something reads request.body or request.POST past the
    # limits; without this they became Django's bare HTML 400 page.
    if isinstance(exc, RequestDataTooBig):
        exc = too_large()
    elif isinstance(exc, TooManyFieldsSent):
        exc = exceptions.ValidationError(f"Too many fields or query parameters: {exc}")
    # What DRF's handler would turn them into, done here so they get the shape below
    # (get_object_or_404 raises Django's Http404, answered with no `code` before).
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        data = exc.detail
        if isinstance(data, dict):
            response.data = {"detail": _summary(data), "code": "invalid", "errors": data}
        else:
            messages = data if isinstance(data, list) else [data]
            response.data = {"detail": " ".join(str(m) for m in messages), "code": "invalid"}
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = {"detail": str(exc.detail), "code": codes if isinstance(codes, str) else "error"}
    return response


def _summary(errors: dict[str, Any]) -> str:
    """'Invalid input: name: This field is required.' (the first field's first message)."""
    field, messages = next(iter(errors.items()), ("", []))
    while isinstance(messages, dict | list) and messages:
        if isinstance(messages, dict):
            key, messages = next(iter(messages.items()))
            field = f"{field}.{key}"
        else:
            messages = messages[0]
    if not field or isinstance(messages, dict | list):
        return "Invalid input."
    more = " (and more, see errors)" if len(errors) > 1 else ""
    return f"Invalid input: {field}: {messages}{more}"
