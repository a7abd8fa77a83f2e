"""`Authorization: Bearer <key>` (or `Token <key>`) against hashed personal tokens."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from pipelines.api.hot_reads import active_token
from pipelines.models import ApiToken, StepStatus

# Recording every use would turn each API read into a write.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header; send 'Bearer <token>'.")
        key = header[1].decode(errors="replace")
        token = active_token(ApiToken.digest_of(key))
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        if token.expires_at is not None and token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(
                "This API token has expired; create a new one with `manage.py create_api_token`."
            )
        if token.step_run_id is not None and not (
            token.step_run.status == StepStatus.RUNNING and token.step_run.attempt == token.attempt
        ):
            raise exceptions.AuthenticationFailed("This run token's step attempt has ended.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > _LAST_USED_GRANULARITY:
            ApiToken.objects.filter(id=token.id).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):  # type: ignore[no-untyped-def]
        return "Bearer"
