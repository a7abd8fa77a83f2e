"""A JSON value stored as one Fernet token (django-fernet-fields' field, JSON on top)."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import InvalidToken, MultiFernet
from fernet_fields import EncryptedTextField

from secrets_app import crypto


class EncryptedJSONField(EncryptedTextField):
    """Encrypted with the newest of settings.FERNET_KEYS; decrypted with any of them.

    Loading a row decrypts it, so callers that need only the row's other columns
    defer this one (Secret's manager does): a list never decrypts.
    """

    @property
    def fernet(self) -> MultiFernet:  # type: ignore[override]
        # The package caches the keys on the field for the process's life; these
        # follow settings, so rotating or overriding keys needs no restart trick.
        return crypto.multifernet()

    def get_prep_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))

    def from_db_value(self, value: Any, expression: Any, connection: Any, *args: Any) -> Any:
        if value is None:
            return None
        try:
            return json.loads(self.fernet.decrypt(bytes(value)))
        except InvalidToken:
            raise crypto.SecretUndecryptable() from None

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value)
        return value
