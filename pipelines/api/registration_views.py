"""`POST artifact-versions/register/` (`register_artifact`) and
`POST model-versions/{id}/artifacts/` (`link_artifact_to_model`, and `save_artifact`
in a step with a model)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from pipelines import access
from pipelines.models import ArtifactKind
from pipelines.sdk.naming import InvalidName
from pipelines.services.artifact_registration import RegistrationRefused, artifact_version_register
from pipelines.services.artifacts import ArtifactVersionTaken
from pipelines.services.model_versions import model_version_link_artifacts
from pipelines.storage import artifact_store


class RegisterArtifactSerializer(serializers.Serializer):
    uri = serializers.CharField(
        max_length=1000, trim_whitespace=False, help_text="A file or folder inside the artifact store."
    )
    artifact = serializers.CharField(trim_whitespace=False, help_text="The artifact's name.")
    version = serializers.CharField(trim_whitespace=False, required=False, allow_null=True, default=None)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), default=list, max_length=50)


class LinkArtifactSerializer(serializers.Serializer):
    artifact_version = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    kind = serializers.ChoiceField(choices=ArtifactKind.choices, default=ArtifactKind.DATA)


class RegisterArtifactMixin:
    """The artifact versions' `register` action."""

    @extend_schema(request=RegisterArtifactSerializer, responses={201: dict})
    @action(detail=False, methods=["post"])
    def register(self, request: Request) -> Response:
        """Register a file or folder already in the artifact store as a new version, where
        it lies (no copy): the server checksums it; it loads as a `pathlib.Path`."""
        data = RegisterArtifactSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = access.run_token_of(request.auth)
        try:
            version = artifact_version_register(
                uri=data.validated_data["uri"],
                artifact_name=data.validated_data["artifact"],
                version=data.validated_data["version"],
                tags=data.validated_data["tags"],
                store=artifact_store(),
                created_by_id=request.user.pk,
                producer_step_run_id=token.step_run_id if token else None,
                producer_attempt=token.attempt or 0 if token else 0,
            )
        except RegistrationRefused as exc:
            raise ValidationError({"uri": [str(exc)]}) from None
        except (ArtifactVersionTaken, InvalidName) as exc:
            raise ValidationError(str(exc)) from None
        detail = self.get_serializer(self.get_queryset().get(id=version.id))  # type: ignore[attr-defined]
        return Response(detail.data, status=status.HTTP_201_CREATED)


class LinkArtifactMixin:
    """The model versions' `artifacts` action."""

    # Set for the `artifacts` action only (a DRF action's keyword needs the attribute).
    run_token_may_write = False

    @extend_schema(request=LinkArtifactSerializer, responses={201: dict})
    @action(detail=True, methods=["post"], run_token_may_write=True)
    def artifacts(self, request: Request, pk: str) -> Response:
        """Link an artifact version to this model version as data, a model or a
        deployment (once; linking again changes nothing)."""
        model_version = self.get_object()  # type: ignore[attr-defined]
        data = LinkArtifactSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        access.require_model_version_link(request.user, access.run_token_of(request.auth), version_id=model_version.id)
        artifact_version_id = data.validated_data["artifact_version"]
        if not access.artifact_versions_visible(request.user).filter(id=artifact_version_id).exists():
            raise ValidationError({"artifact_version": [f"No ready artifact version with id {artifact_version_id}."]})
        model_version_link_artifacts(
            model_version_id=model_version.id, links={artifact_version_id: data.validated_data["kind"]}
        )
        return Response(
            {"model_version": model_version.id, "artifact_version": artifact_version_id}, status=status.HTTP_201_CREATED
        )
