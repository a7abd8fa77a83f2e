"""The Fernet keys of settings.FERNET_KEYS: the first encrypts, every one decrypts."""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUndecryptable(Exception):
    """A secret's stored values cannot be decrypted with any of the current keys."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        subject = f"Secret {name!r}" if name else "A secret"
        super().__init__(
            f"{subject} cannot be decrypted: FERNET_KEYS lacks the key that encrypted it. "
            "Add that key back to FERNET_KEYS (any position after the first), then run "
            "`python manage.py rotate_secret_keys` to re-encrypt with the newest key."
        )


def multifernet() -> MultiFernet:
    """Decrypts with any configured key, encrypts with the newest."""
    return _multifernet(_configured_keys())


def newest_fernet() -> Fernet:
    """Only the newest key: a token it decrypts needs no rotation."""
    return _fernet(_configured_keys()[0])


def _configured_keys() -> tuple[str, ...]:
    keys = tuple(getattr(settings, "FERNET_KEYS", None) or ())
    if not keys:
        raise ImproperlyConfigured(
            "FERNET_KEYS is empty: set FERNET_KEYS or FERNET_KEYS_FILE (`manage.py check` explains)."
        )
    return keys


# Keyed on the keys themselves, so changed settings (tests, a reload) take effect at once.
@functools.lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([_fernet(key) for key in keys])


@functools.lru_cache(maxsize=8)
def _fernet(key: str) -> Fernet:
    return Fernet(key)
