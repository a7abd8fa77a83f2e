from __future__ import annotations

from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "pipelines"
    verbose_name = "Pipelines"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pipelines import worker_signals  # noqa: F401  (connects Celery signals)
        from pipelines.api import schema  # noqa: F401  (registers the OpenAPI auth description)
