from __future__ import annotations

from django.apps import AppConfig


class SecretsAppConfig(AppConfig):
    name = "secrets_app"
    verbose_name = "Secrets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from secrets_app import checks  # noqa: F401  (registers the system checks)
