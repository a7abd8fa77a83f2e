from __future__ import annotations

from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class PipelinesConfig(AppConfig):
    name = "pipelines"
    verbose_name = "Pipelines"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pipelines import checks, worker_signals  # noqa: F401  (registers system checks, connects Celery signals)
        from pipelines.api import schema  # noqa: F401  (registers the OpenAPI auth description)

        # Every process (web, worker, manage.py, tests) sets Django up before it
        # serves or works: the local folders are made here, since importing the
        # settings must write nothing.
        for folder in getattr(settings, "LOCAL_FOLDERS", ()):
            Path(folder).mkdir(parents=True, exist_ok=True)
