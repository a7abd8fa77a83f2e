"""System checks for the keys that encrypt secret values."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, register

GENERATE = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


@register("secrets_app")
def check_fernet_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    keys = getattr(settings, "FERNET_KEYS", None)
    if not keys:
        return [
            Error(
                "No FERNET_KEYS: secret values cannot be encrypted or read.",
                hint=(
                    "Set FERNET_KEYS (comma-separated, newest first) or FERNET_KEYS_FILE (one key per line). "
                    f"Generate a key with: {GENERATE}. Keep it apart from DJANGO_SECRET_KEY and back it up: "
                    "secrets encrypted with a lost key cannot be recovered."
                ),
                id="secrets_app.E001",
            )
        ]
    errors = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"FERNET_KEYS: key #{position} is not a Fernet key (32 url-safe base64-encoded bytes).",
                    hint=f"Generate one with: {GENERATE}",
                    id="secrets_app.E002",
                )
            )
    return errors
