"""Personal API tokens: created once, shown once, stored as a digest."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from pipelines.models import ApiToken

TOKEN_PREFIX = "pip_"  # noqa: S105  (a public marker, not a secret)


def api_token_create(*, user: AbstractBaseUser, name: str = "") -> tuple[ApiToken, str]:
    """Returns the stored token and the key, which is not kept anywhere else."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name[:100], prefix=key[:12], digest=ApiToken.digest_of(key))
    return token, key


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(id=token.id, revoked_at=None).update(revoked_at=timezone.now())
