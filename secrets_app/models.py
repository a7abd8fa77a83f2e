"""Secrets: named sets of key→value pairs whose values are encrypted at rest.

Only the values are secret. Names and keys are stored in plaintext (the keys as a
sorted list beside the ciphertext) so that lists, the admin and audit pages never
decrypt anything.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from secrets_app.crypto import SecretUndecryptable
from secrets_app.fields import EncryptedJSONField

NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"
NAME_MAX_LENGTH = 200
KEY_MAX_LENGTH = 200

validate_name = RegexValidator(
    NAME_PATTERN,
    "A secret's name may hold only letters, digits, '-', '_' and '.' (no spaces or slashes).",
    code="invalid_name",
)


class SecretManager(models.Manager["Secret"]):
    def get_queryset(self) -> models.QuerySet[Secret]:
        # Values are decrypted only on purpose (Secret.decrypted_values), never as a
        # side effect of loading a row: a key that cannot decrypt one secret must not
        # take down a list, the admin or a delete.
        return super().get_queryset().defer("values")


class Secret(models.Model):
    name = models.CharField(max_length=NAME_MAX_LENGTH, unique=True, validators=[validate_name])
    description = models.TextField(blank=True, default="")
    values = EncryptedJSONField(default=dict)
    keys = models.JSONField(default=list, help_text="The values' keys, sorted; stored in plaintext.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = SecretManager()

    class Meta:
        ordering = ["name"]
        permissions = [("view_secret_values", "Can read secret values")]
        constraints = [models.CheckConstraint(condition=~models.Q(name=""), name="secret_name_not_empty")]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Secret {self.name}: ****>"

    def decrypted_values(self) -> dict[str, str]:
        """The stored values, read afresh; raises SecretUndecryptable naming this secret."""
        try:
            return Secret.objects.filter(pk=self.pk).values_list("values", flat=True).get()
        except SecretUndecryptable:
            raise SecretUndecryptable(self.name) from None


class ReadVia(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin"
    CLI = "cli", "Command line"


class SecretRead(models.Model):
    """Who read a secret's values, and from which step run if a step did."""

    # The name is kept so the record outlives the secret.
    secret = models.ForeignKey(Secret, null=True, on_delete=models.SET_NULL, related_name="reads")
    secret_name = models.CharField(max_length=NAME_MAX_LENGTH)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # pipelines.StepRun's id; an integer because this app may not depend on pipelines.
    step_run_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    via = models.CharField(max_length=10, choices=ReadVia.choices, default=ReadVia.API)
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-read_at", "-id"]
        indexes = [models.Index(fields=["secret", "-read_at"], name="secretread_secret_recent")]

    def __str__(self) -> str:
        reader = f"step run #{self.step_run_id}" if self.step_run_id else (self.user or "unknown")
        return f"{self.secret_name} read by {reader}"
