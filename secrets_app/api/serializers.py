from __future__ import annotations

from typing import Any

from rest_framework import serializers

from secrets_app.models import NAME_MAX_LENGTH, Secret


class SecretSerializer(serializers.ModelSerializer):
    """A secret as lists and details show it: never its values."""

    keys = serializers.ListField(child=serializers.CharField(), read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Secret
        fields = ["id", "name", "description", "keys", "created_at", "updated_at", "created_by", "updated_by"]
        read_only_fields = fields


class SecretValuesSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    values = serializers.DictField(child=serializers.CharField())


def _scrub(detail: Any, submitted: set[str]) -> Any:
    if isinstance(detail, dict):
        return {key: _scrub(value, submitted) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_scrub(item, submitted) for item in detail]
    text = str(detail)
    for value in submitted:
        text = text.replace(value, "****")
    return serializers.ErrorDetail(text, code=getattr(detail, "code", "invalid"))


class NeverEchoValues(serializers.Serializer):
    """Validation errors never repeat a submitted value, whatever field raised them."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        try:
            return super().run_validation(data)
        except serializers.ValidationError as exc:
            values = data.get("values") if isinstance(data, dict) else None
            submitted = {v for v in values.values() if isinstance(v, str) and v} if isinstance(values, dict) else set()
            raise serializers.ValidationError(_scrub(exc.detail, submitted)) from None


# Values are checked (and their types reported) by the services, not coerced here:
# a number must not silently become a string.
_VALUES_HELP = "Key → string value; keys use letters, digits, '-', '_' and '.'."


class StrictCharField(serializers.CharField):
    """A string, never a number turned into one: `{"name": 0}` is refused, not named "0"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class SecretCreateSerializer(NeverEchoValues):
    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    values = serializers.DictField(help_text=_VALUES_HELP)
    description = StrictCharField(required=False, allow_blank=True, default="")


class SecretReplaceSerializer(NeverEchoValues):
    values = serializers.DictField(help_text=_VALUES_HELP + " Replaces every stored key.")
    description = StrictCharField(required=False, allow_blank=True)


class SecretPatchSerializer(NeverEchoValues):
    values = serializers.DictField(required=False, help_text=_VALUES_HELP + " Sets these keys; others are kept.")
    remove_keys = serializers.ListField(child=StrictCharField(), required=False)
    description = StrictCharField(required=False, allow_blank=True)
