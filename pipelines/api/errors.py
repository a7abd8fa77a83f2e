"""One error shape for the whole API: {"detail": str, "code": str, "errors"?: {...}}."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        data = exc.detail
        if isinstance(data, dict):
            response.data = {"detail": "Invalid input.", "code": "invalid", "errors": data}
        else:
            messages = data if isinstance(data, list) else [data]
            response.data = {"detail": " ".join(str(m) for m in messages), "code": "invalid"}
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = {"detail": str(exc.detail), "code": codes if isinstance(codes, str) else "error"}
    return response
