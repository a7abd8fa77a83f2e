"""`POST <object>/{id}/tags/` on pipelines, runs, artifacts, artifact versions, models and model
versions: add and/or remove tags in one atomic change (ZenML's add_tags/remove_tags)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from pipelines import access
from pipelines.services.tags import MAX_TAGS, TAG_MAX_LENGTH, TooManyTags, tags_update


class TagsWriteSerializer(serializers.Serializer):
    add = serializers.ListField(
        child=serializers.CharField(max_length=TAG_MAX_LENGTH), required=False, default=list, max_length=MAX_TAGS
    )
    remove = serializers.ListField(
        child=serializers.CharField(max_length=TAG_MAX_LENGTH), required=False, default=list, max_length=MAX_TAGS
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs["add"] and not attrs["remove"]:
            raise ValidationError("Give tags to add (`add`: [...]) and/or to remove (`remove`: [...]).")
        return attrs


class TagsSerializer(serializers.Serializer):
    tags = serializers.ListField(child=serializers.CharField())


class TagsActionMixin:
    """A viewset's `tags` action; `tag_kind` names the object (see services.tags.TAGGABLE)."""

    tag_kind: str
    # Set for the `tags` action only (a DRF action's keyword needs the attribute to exist).
    run_token_may_write = False

    @extend_schema(request=TagsWriteSerializer, responses=TagsSerializer)
    @action(detail=True, methods=["post"], run_token_may_write=True)
    def tags(self, request: Request, pk: str) -> Response:
        """Add and/or remove tags; answers the object's tags. Who may: see the README's
        Permissions table (a step's run token: its own run and what it produced)."""
        target = self.get_object()  # type: ignore[attr-defined]  # 404 unless visible
        data = TagsWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        access.require_tagging(request.user, access.run_token_of(request.auth), kind=self.tag_kind, target_id=target.id)
        try:
            tags = tags_update(
                kind=self.tag_kind,
                target_id=target.id,
                add=data.validated_data["add"],
                remove=data.validated_data["remove"],
            )
        except TooManyTags as exc:
            raise ValidationError({"add": [str(exc)]}) from None
        return Response({"tags": tags})
