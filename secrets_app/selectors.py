"""Reads of secrets. None of these decrypt: values come only from
services.secret_read_values, which records the read."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from secrets_app.models import Secret, SecretRead


def secrets_list() -> QuerySet[Secret]:
    """Every secret with its authors, values deferred (names and keys only)."""
    return Secret.objects.select_related("created_by", "updated_by")


def secret_by_name(*, name: str) -> Secret | None:
    return secrets_list().filter(name=name).first()


def secret_reads_recent(*, secret: Secret, limit: int = 20) -> list[SecretRead]:
    return list(SecretRead.objects.filter(secret=secret).select_related("user").order_by("-read_at", "-id")[:limit])


def secret_reads_by_step_run(step_run_id: int) -> list[str]:
    """The names of the secrets a step run read, sorted (for the step's page)."""
    reads = SecretRead.objects.filter(step_run_id=step_run_id).order_by("secret_name")
    return list(reads.values_list("secret_name", flat=True).distinct())


def secret_reads_count_by_via() -> dict[str, int]:
    """How many reads of secret values were recorded, by door (api, admin, cli); a
    step's reads come through the API. For the /metrics counter: one GROUP BY."""
    return dict(SecretRead.objects.values_list("via").annotate(n=Count("id")).order_by())
