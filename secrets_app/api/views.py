from __future__ import annotations

from django.db.models import QuerySet
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from secrets_app import selectors, services
from secrets_app.api import serializers as s
from secrets_app.api.permissions import SecretPermissions
from secrets_app.models import ReadVia, Secret


class SecretUndecryptableError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "undecryptable"


def _invalid(exc: services.SecretInvalid) -> exceptions.ValidationError:
    return exceptions.ValidationError({exc.field: [str(exc)]})


# Request bodies carry values: Django's error reports must not show them.
@method_decorator(sensitive_post_parameters(), name="dispatch")
class SecretViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Secrets by name and keys; values only through `values/`, which is audited."""

    permission_classes = [IsAuthenticated, SecretPermissions]
    serializer_class = s.SecretSerializer
    filterset_fields = {"name": ["exact"]}
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet[Secret]:
        return selectors.secrets_list()

    @extend_schema(request=s.SecretCreateSerializer, responses={201: s.SecretSerializer})
    @sensitive_variables()
    def create(self, request: Request) -> Response:
        """Create a secret. The response never holds the values."""
        data = s.SecretCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            secret = services.secret_create(**data.validated_data, user=request.user)
        except services.SecretInvalid as exc:
            raise _invalid(exc) from None
        return Response(s.SecretSerializer(secret).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.SecretReplaceSerializer, responses=s.SecretSerializer)
    @sensitive_variables()
    def update(self, request: Request, pk: str) -> Response:
        """Replace every value (keys not sent are removed)."""
        data = s.SecretReplaceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        return self._update(replace_values=fields["values"], description=fields.get("description"))

    @extend_schema(request=s.SecretPatchSerializer, responses=s.SecretSerializer)
    @sensitive_variables()
    def partial_update(self, request: Request, pk: str) -> Response:
        """Set the keys in `values` (others are kept), remove `remove_keys`, change the description."""
        data = s.SecretPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        return self._update(
            values=fields.get("values"), remove_keys=fields.get("remove_keys"), description=fields.get("description")
        )

    @sensitive_variables()
    def _update(self, **changes: object) -> Response:
        secret = self.get_object()
        try:
            secret = services.secret_update(secret=secret, user=self.request.user, **changes)  # type: ignore[arg-type]
        except services.SecretInvalid as exc:
            raise _invalid(exc) from None
        except services.SecretUndecryptable as exc:
            raise SecretUndecryptableError(str(exc)) from None
        except services.SecretGone as exc:
            raise exceptions.NotFound(str(exc)) from None
        return Response(s.SecretSerializer(secret).data)

    def perform_destroy(self, instance: Secret) -> None:
        services.secret_delete(secret=instance)

    @extend_schema(
        responses={
            200: s.SecretValuesSerializer,
            409: OpenApiResponse(description="The current FERNET_KEYS cannot decrypt this secret."),
        }
    )
    @action(detail=True, methods=["get"])
    @sensitive_variables()
    def values(self, request: Request, pk: str) -> Response:
        """The secret's values. Needs 'Can read secret values'; every read is recorded."""
        secret = self.get_object()
        try:
            values = services.secret_read_values(
                secret=secret,
                user=request.user,
                step_run_id=getattr(request.auth, "step_run_id", None),
                via=ReadVia.API,
            )
        except services.SecretUndecryptable as exc:
            raise SecretUndecryptableError(str(exc)) from None
        except services.SecretGone as exc:
            raise exceptions.NotFound(str(exc)) from None
        return Response({"id": secret.id, "name": secret.name, "values": values})
