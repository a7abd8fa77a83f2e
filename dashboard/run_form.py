"""The Run form: one typed input per pipeline parameter, from its stored schema."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from pipelines.sdk.spec import ParameterDecl

PARAMETER_PREFIX = "p_"
JSON_TYPES = ("array", "object", None)


def field_name(parameter: str) -> str:
    return PARAMETER_PREFIX + parameter


class JSONValueField(forms.CharField):
    """A textarea whose text is read as JSON (structured or untyped parameters)."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def __init__(self, *, nullable: bool, **kwargs: Any) -> None:
        self.nullable = nullable
        super().__init__(**kwargs)

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        if not text.strip():
            if self.nullable:
                return None
            raise forms.ValidationError("Give a JSON value.")
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}.") from None
        if "\\u0000" in json.dumps(value):  # json writes NUL so; no database stores it in text
            raise forms.ValidationError("NUL characters (\\u0000) are not allowed.")
        return value


def _field_for(decl: ParameterDecl) -> forms.Field:
    kind, nullable = decl.get("type"), bool(decl.get("nullable"))
    label = decl["name"]
    help_text = f"{kind or 'any JSON value'}{' or empty for null' if nullable and kind != 'boolean' else ''}"
    if kind == "boolean":
        if nullable:
            return forms.NullBooleanField(label=label, help_text="boolean or null")
        return forms.BooleanField(label=label, required=False, help_text="boolean")
    if kind == "integer":
        return forms.IntegerField(label=label, required=not nullable, help_text=help_text)
    if kind == "number":
        return forms.FloatField(label=label, required=not nullable, help_text=help_text)
    if kind == "string":
        return forms.CharField(
            label=label, required=False, strip=False, empty_value=None if nullable else "", help_text=help_text
        )
    return JSONValueField(label=label, required=False, nullable=nullable, help_text=help_text)


def _shown(decl: ParameterDecl, value: Any) -> Any:
    """A value as its input shows it."""
    if decl.get("type") in JSON_TYPES:
        return "" if value is None and decl.get("nullable") else json.dumps(value, indent=2)
    return value


class RunForm(forms.Form):
    """Parameters first (named `p_<parameter>`), then the run's options."""

    enable_cache = forms.BooleanField(label="Use cache", required=False)
    run_name = forms.CharField(
        label="Run name", required=False, max_length=200, help_text="Empty: the pipeline's run name template."
    )
    rerun = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, schema: list[ParameterDecl], values: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        options = dict(self.fields)
        self.fields.clear()
        for decl in schema:
            name = field_name(decl["name"])
            self.fields[name] = _field_for(decl)
            if decl["name"] in values:
                self.fields[name].initial = _shown(decl, values[decl["name"]])
        self.fields.update(options)

    def parameter_fields(self) -> list[forms.BoundField]:
        return [self[field_name(decl["name"])] for decl in self.schema]

    def option_fields(self) -> list[forms.BoundField]:
        return [self["enable_cache"], self["run_name"]]

    def parameters(self) -> dict[str, Any]:
        return {decl["name"]: self.cleaned_data[field_name(decl["name"])] for decl in self.schema}

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """The service's errors, each next to its input (a parameter's, an option's)."""
        names = {decl["name"] for decl in self.schema}
        for key, messages in errors.items():
            target = field_name(key) if key in names else key if key in ("run_name", "enable_cache") else None
            for message in messages:
                self.add_error(target, message)
