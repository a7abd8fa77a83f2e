"""Personal API tokens: created once, shown once, stored as a digest."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from pipelines.models import ApiToken

TOKEN_PREFIX = "pip_"  # noqa: S105  (a public marker, not a secret)


def api_token_create(
    *, user: AbstractBaseUser, name: str = "", expires_in: timedelta | None = None
) -> tuple[ApiToken, str]:
    """Returns the stored token and the key, which is not kept anywhere else."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        prefix=key[:12],
        digest=ApiToken.digest_of(key),
        expires_at=timezone.now() + expires_in if expires_in else None,
    )
    return token, key


def run_token_create(*, step_run_id: int, attempt: int) -> str | None:
    """A token for one step attempt, acting for the user who started the run.

    It is made in the worker and handed to the step in memory, never through the
    broker. None when the run has no user to act for.
    """
    from pipelines.models import StepRun

    user_id = StepRun.objects.filter(id=step_run_id).values_list("pipeline_run__triggered_by", flat=True).first()
    if user_id is None:
        return None
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(
        user_id=user_id,
        name=f"step run {step_run_id} attempt {attempt}",
        prefix=key[:12],
        digest=ApiToken.digest_of(key),
        step_run_id=step_run_id,
        attempt=attempt,
    )
    return key


def run_tokens_revoke(*, step_run_id: int, attempt: int) -> None:
    ApiToken.objects.filter(step_run_id=step_run_id, attempt=attempt, revoked_at=None).update(revoked_at=timezone.now())


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(id=token.id, revoked_at=None).update(revoked_at=timezone.now())
