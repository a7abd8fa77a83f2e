"""OpenAPI descriptions drf-spectacular cannot infer on its own."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "pipelines.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal token from `manage.py create_api_token USERNAME`, or a step's run token.",
        }


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API (`pipelines.api.errors`)."""

    detail = serializers.CharField(help_text="What went wrong and how to fix it, in one sentence.")
    code = serializers.CharField(help_text="A stable code: `invalid`, `not_found`, `unknown_parameter`, ...")
    errors = serializers.DictField(
        required=False, help_text="For invalid input: each field (or query parameter) and its messages."
    )


_ERRORS = {
    "400": "Invalid input, an unknown query parameter or ordering field, or malformed JSON.",
    "401": "No credentials, or a wrong, revoked or expired token.",
    "403": "Signed in, but not allowed to do this.",
    "404": "No such object (or not visible to the caller).",
    "409": "The object's state does not allow this now.",
    "413": "The request body is larger than the limit (DATA_UPLOAD_MAX_MEMORY_SIZE).",
    "415": "The request body is not JSON (the only media type the API reads).",
}
_BODY_ERRORS = {"413", "415"}


class AutoSchema(SpectacularAutoSchema):
    """Every operation lists the error responses it can give, all in the one shape."""

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)  # type: ignore[arg-type]
        takes_body = self.method in ("POST", "PUT", "PATCH")
        for code, description in _ERRORS.items():
            if code in _BODY_ERRORS and not takes_body:
                continue
            if code in responses:
                # A view's own description (secrets_app may not import this module to
                # name the shape) keeps its words and gets the shape.
                if responses[code].get("content"):
                    continue
                description = responses[code].get("description") or description
            responses[code] = self._get_response_for_code(
                OpenApiResponse(ErrorSerializer, description=description), code, direction=direction
            )
        return responses
