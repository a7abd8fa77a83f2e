"""Secrets in the admin. Values are write-only: no page ever shows a stored value,
not the form, not the list, not the history (change messages name keys only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from secrets_app import selectors, services
from secrets_app.models import Secret, SecretRead

NEW_ROWS = 3
_VALUE_WIDGET = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password", "size": 40})


class SecretForm(forms.ModelForm):
    """One row per stored key (blank keeps the value, a box removes the key) and a few
    blank rows for new keys. Changes are applied by the services, not by save()."""

    class Meta:
        model = Secret
        fields = ["name", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.existing_keys: list[str] = list(self.instance.keys) if self.instance.pk else []
        for key in self.existing_keys:
            self.fields[f"value:{key}"] = forms.CharField(
                label=key, required=False, strip=False, widget=_VALUE_WIDGET, help_text="Blank keeps the value."
            )
            self.fields[f"remove:{key}"] = forms.BooleanField(label=f"Remove {key}", required=False)
        for row in range(NEW_ROWS):
            self.fields[f"new_key_{row}"] = forms.CharField(label=f"New key {row + 1}", required=False)
            self.fields[f"new_value_{row}"] = forms.CharField(
                label=f"New value {row + 1}", required=False, strip=False, widget=_VALUE_WIDGET
            )

    @sensitive_variables()
    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.changes: dict[str, str] = {}
        self.removals: list[str] = []
        for key in self.existing_keys:
            if data.get(f"remove:{key}"):
                if data.get(f"value:{key}"):
                    self.add_error(f"remove:{key}", f"Either remove {key!r} or give it a new value, not both.")
                self.removals.append(key)
            elif data.get(f"value:{key}"):
                self.changes[key] = data[f"value:{key}"]
        for row in range(NEW_ROWS):
            key, value = data.get(f"new_key_{row}", "").strip(), data.get(f"new_value_{row}", "")
            if not key and not value:
                continue
            if not key:
                self.add_error(f"new_key_{row}", "Give the new value a key.")
                continue
            try:
                services.validate_secret_key(key)
            except services.SecretInvalid as exc:
                self.add_error(f"new_key_{row}", str(exc))
                continue
            if key in self.existing_keys:
                self.add_error(f"new_key_{row}", f"{key!r} exists already: type its new value in its own row.")
            elif key in self.changes:
                self.add_error(f"new_key_{row}", f"{key!r} is given twice.")
            else:
                self.changes[key] = value
        kept = (set(self.existing_keys) - set(self.removals)) | set(self.changes)
        if len(kept) > services.MAX_KEYS:
            raise forms.ValidationError(
                f"A secret holds at most {services.MAX_KEYS} keys; this would hold {len(kept)}."
            )
        if self.instance.pk and (self.changes or self.removals):
            # Changing some keys keeps the others, so they must be readable.
            try:
                self.instance.decrypted_values()
            except services.SecretUndecryptable as exc:
                raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    form = SecretForm
    list_display = ["name", "key_list", "description", "updated_at"]
    search_fields = ["name", "description"]
    list_select_related = ["updated_by"]
    readonly_fields = ["created_at", "created_by", "updated_at", "updated_by", "recent_reads"]
    save_as = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Secret]:
        return selectors.secrets_list()

    def get_readonly_fields(self, request: HttpRequest, obj: Secret | None = None) -> list[str]:
        # A pipeline finds its secret by name: renaming would break it silently.
        return [*self.readonly_fields, "name"] if obj is not None else []

    def get_fieldsets(self, request: HttpRequest, obj: Secret | None = None) -> list[tuple[str | None, dict]]:
        keys = list(obj.keys) if obj is not None else []
        existing = [f"{kind}:{key}" for key in keys for kind in ("value", "remove")]
        new = [f"new_{kind}_{row}" for row in range(NEW_ROWS) for kind in ("key", "value")]
        fieldsets: list[tuple[str | None, dict]] = [(None, {"fields": ["name", "description"]})]
        if existing:
            fieldsets.append(
                ("Values", {"fields": existing, "description": "Stored values are never shown; blank keeps one."})
            )
        fieldsets.append(("Add keys", {"fields": new}))
        if obj is not None:
            fieldsets.append(
                ("History", {"fields": ["created_at", "created_by", "updated_at", "updated_by", "recent_reads"]})
            )
        return fieldsets

    def get_form(self, request: HttpRequest, obj: Secret | None = None, change: bool = False, **kwargs: Any) -> Any:
        # The dynamic rows are not model fields: build the form from name and description
        # only and let the form add its own rows.
        kwargs["fields"] = ["name", "description"] if obj is None else ["description"]
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="keys")
    def key_list(self, obj: Secret) -> str:
        return ", ".join(obj.keys)

    @admin.display(description="Recent readers")
    def recent_reads(self, obj: Secret) -> str:
        reads = selectors.secret_reads_recent(secret=obj)
        if not reads:
            return "No one has read the values yet."
        rows = (
            (
                f"step run #{read.step_run_id}" if read.step_run_id else (read.user or "unknown"),
                read.via,
                date_format(localtime(read.read_at), "DATETIME_FORMAT"),
            )
            for read in reads
        )
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{} via {} at {}</li>", rows))

    @method_decorator(sensitive_post_parameters())
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return super().changeform_view(request, *args, **kwargs)

    @sensitive_variables()
    def save_model(self, request: HttpRequest, obj: Secret, form: SecretForm, change: bool) -> None:
        if not change:
            created = services.secret_create(
                name=obj.name, values=form.changes, description=obj.description, user=request.user
            )
            obj.pk, obj.keys = created.pk, created.keys
            return
        try:
            services.secret_update(
                secret=obj,
                values=form.changes or None,
                remove_keys=form.removals or None,
                description=obj.description,
                user=request.user,
            )
        except (services.SecretInvalid, services.SecretUndecryptable) as exc:
            messages.error(request, str(exc))

    def delete_model(self, request: HttpRequest, obj: Secret) -> None:
        services.secret_delete(secret=obj)

    def construct_change_message(
        self, request: HttpRequest, form: SecretForm, formsets: Any, add: bool = False
    ) -> list[dict[str, Any]]:
        # Django's default names the changed form fields; these name keys, never values.
        fields = []
        if form.changes:
            fields.append(f"set keys: {', '.join(sorted(form.changes))}")
        if form.removals:
            fields.append(f"removed keys: {', '.join(sorted(form.removals))}")
        if "description" in form.changed_data:
            fields.append("description")
        if add:
            return [{"added": {}}]
        return [{"changed": {"fields": fields}}] if fields else []


@admin.register(SecretRead)
class SecretReadAdmin(admin.ModelAdmin):
    """The audit trail of value reads: a record, not editable."""

    list_display = ["secret_name", "user", "step_run_id", "via", "read_at"]
    list_filter = ["via"]
    search_fields = ["secret_name", "user__username"]
    list_select_related = ["user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
