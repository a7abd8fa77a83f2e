"""Every change to a secret, and every read of its values, goes through here.

Limits: a name or key is 1-200 characters of letters, digits, '-', '_' and '.';
a value is a string (possibly empty) of at most 64 KiB (UTF-8); a secret holds at
most 100 keys and 256 KiB of values in all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import InvalidToken
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, connection, transaction
from django.db.models import BinaryField, ExpressionWrapper, F
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from secrets_app import crypto
from secrets_app.crypto import SecretUndecryptable
from secrets_app.models import KEY_MAX_LENGTH, NAME_MAX_LENGTH, NAME_PATTERN, ReadVia, Secret, SecretRead

__all__ = [
    "MAX_KEYS",
    "MAX_TOTAL_BYTES",
    "MAX_VALUE_BYTES",
    "RotationReport",
    "SecretGone",
    "SecretInvalid",
    "SecretNameTaken",
    "SecretUndecryptable",
    "secret_create",
    "secret_delete",
    "secret_read_values",
    "secret_update",
    "secrets_rotate_keys",
    "validate_secret_key",
    "validate_secret_name",
    "validate_secret_values",
]

MAX_KEYS = 100
MAX_VALUE_BYTES = 64 * 1024
MAX_TOTAL_BYTES = 256 * 1024

_NAME_RE = re.compile(NAME_PATTERN)

User = AbstractBaseUser | AnonymousUser | None


class SecretInvalid(ValueError):
    """Input a secret cannot hold. The message never repeats a value."""

    def __init__(self, message: str, *, field: str = "values") -> None:
        super().__init__(message)
        self.field = field


class SecretNameTaken(SecretInvalid):
    def __init__(self, name: str) -> None:
        super().__init__(f"A secret named {name!r} already exists; pick another name or update it.", field="name")


class SecretGone(LookupError):
    """The secret was deleted while this change or read was on its way."""

    def __init__(self, name: str) -> None:
        super().__init__(f"The secret {name!r} was deleted meanwhile.")


def validate_secret_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise SecretInvalid("A secret needs a name.", field="name")
    # fullmatch: the pattern's `$` alone would also let a trailing newline through.
    if len(name) > NAME_MAX_LENGTH or not _NAME_RE.fullmatch(name):
        raise SecretInvalid(
            f"{name[:NAME_MAX_LENGTH]!r} is not a valid secret name: use 1-{NAME_MAX_LENGTH} letters, digits, "
            "'-', '_' or '.' (no spaces or slashes).",
            field="name",
        )
    return name


def validate_secret_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise SecretInvalid("Every key must be a non-empty string.")
    if len(key) > KEY_MAX_LENGTH or not _NAME_RE.fullmatch(key):
        raise SecretInvalid(
            f"{key[:KEY_MAX_LENGTH]!r} is not a valid key: use 1-{KEY_MAX_LENGTH} letters, digits, '-', '_' or '.'."
        )
    return key


@sensitive_variables()
def validate_secret_values(values: Any, *, require_some: bool = False) -> dict[str, str]:
    """Checks keys and values; messages name keys and types, never a value."""
    if not isinstance(values, Mapping):
        raise SecretInvalid(f"values must be an object of key → string, not {type(values).__name__}.")
    if require_some and not values:
        raise SecretInvalid("A secret needs at least one key and value.")
    for key, value in values.items():
        validate_secret_key(key)
        if not isinstance(value, str):
            raise SecretInvalid(
                f"The value of {key!r} must be a string, not {type(value).__name__}; "
                'send numbers and booleans as strings ("5432").'
            )
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise SecretInvalid(f"The value of {key!r} is longer than {MAX_VALUE_BYTES // 1024} KiB.")
    return dict(values)


@sensitive_variables()
def _check_totals(values: dict[str, str]) -> None:
    if len(values) > MAX_KEYS:
        raise SecretInvalid(f"A secret holds at most {MAX_KEYS} keys; this one would hold {len(values)}.")
    if sum(len(key.encode()) + len(value.encode()) for key, value in values.items()) > MAX_TOTAL_BYTES:
        raise SecretInvalid(f"A secret holds at most {MAX_TOTAL_BYTES // 1024} KiB of keys and values.")


def _user_or_none(user: User) -> AbstractBaseUser | None:
    return user if user is not None and user.is_authenticated else None  # type: ignore[return-value]


@sensitive_variables()
def secret_create(*, name: str, values: Mapping[str, str], description: str = "", user: User) -> Secret:
    validate_secret_name(name)
    clean = validate_secret_values(values, require_some=False)
    _check_totals(clean)
    author = _user_or_none(user)
    now = timezone.now()
    secret = Secret(
        name=name,
        description=description or "",
        values=clean,
        keys=sorted(clean),
        created_by=author,
        updated_by=author,
        created_at=now,
        updated_at=now,
    )
    try:
        with transaction.atomic():
            secret.save()
    except IntegrityError:
        if Secret.objects.filter(name=name).exists():
            raise SecretNameTaken(name) from None
        raise
    # Callers serialize what they get back; the plaintext stays behind.
    del secret.values
    return secret


@sensitive_variables()
def secret_update(
    *,
    secret: Secret,
    values: Mapping[str, str] | None = None,
    remove_keys: Iterable[str] | None = None,
    replace_values: Mapping[str, str] | None = None,
    description: str | None = None,
    user: User,
) -> Secret:
    """Sets `values`' keys (others are kept), removes `remove_keys`, or with
    `replace_values` stores exactly those; the description changes when given."""
    if replace_values is not None and (values is not None or remove_keys is not None):
        raise SecretInvalid("Give replace_values alone, or values and remove_keys to change some keys.")
    updates = validate_secret_values(values) if values is not None else {}
    removals = [validate_secret_key(key) for key in remove_keys or []]
    if set(updates) & set(removals):
        raise SecretInvalid(f"Keys {sorted(set(updates) & set(removals))} are both set and removed.")
    replacement = validate_secret_values(replace_values) if replace_values is not None else None
    touches_values = replacement is not None or updates or removals
    with transaction.atomic():
        # The row may be gone: a delete can commit between the caller's read and this lock.
        locked = Secret.objects.select_for_update().filter(pk=secret.pk).first()
        if locked is None:
            raise SecretGone(secret.name)
        if touches_values:
            if replacement is not None:
                current = replacement
            else:
                current = locked.decrypted_values()
                current.update(updates)
                for key in removals:
                    current.pop(key, None)
            _check_totals(current)
            locked.values = current
            locked.keys = sorted(current)
        if description is not None:
            locked.description = description
        locked.updated_by = _user_or_none(user)
        locked.updated_at = timezone.now()
        fields = ["description", "updated_by", "updated_at"]
        locked.save(update_fields=[*fields, "values", "keys"] if touches_values else fields)
    updated = Secret.objects.select_related("created_by", "updated_by").filter(pk=secret.pk).first()
    if updated is None:
        raise SecretGone(secret.name)
    return updated


def secret_delete(*, secret: Secret) -> None:
    secret.delete()


@sensitive_variables()
def secret_read_values(*, secret: Secret, user: User, step_run_id: int | None = None, via: str) -> dict[str, str]:
    """Decrypts the values and records who read them. Raises SecretUndecryptable, and
    SecretGone when the secret is deleted meanwhile."""
    with transaction.atomic():
        # Locked, so that a delete cannot commit between the read and its record (the
        # record's foreign key would then point at nothing).
        if not Secret.objects.select_for_update().filter(pk=secret.pk).exists():
            raise SecretGone(secret.name)
        values = secret.decrypted_values()
        SecretRead.objects.create(
            secret=secret, secret_name=secret.name, user=_user_or_none(user), step_run_id=step_run_id, via=ReadVia(via)
        )
    return values


# --- Key rotation --------------------------------------------------------------


@dataclass
class RotationReport:
    rotated: int = 0
    current: int = 0
    failed: list[str] = field(default_factory=list)


def _raw_token() -> ExpressionWrapper:
    # The stored token as bytes, bypassing the field's decryption.
    return ExpressionWrapper(F("values"), output_field=BinaryField())


def _store_token(*, secret_id: int, expected: bytes, token: bytes) -> None:
    # Raw SQL: an ORM update would encrypt the token once more. Only if the row still
    # holds what was read: a concurrent update already wrote under the newest key.
    quote = connection.ops.quote_name
    table, column = quote(Secret._meta.db_table), quote(Secret._meta.get_field("values").column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = %s WHERE {quote('id')} = %s AND {column} = %s",  # noqa: S608
            [token, secret_id, expected],
        )


def secrets_rotate_keys(
    *, batch_size: int = 200, dry_run: bool = False, after_batch: Callable[[RotationReport], None] | None = None
) -> RotationReport:
    """Re-encrypts every secret's values with the newest key, a batch per transaction.

    Safe to kill and run again: a row already encrypted with the newest key counts as
    current and is left alone, so a second run changes nothing. A row none of the keys
    decrypts is reported by name and left as it is.
    """
    newest, every_key = crypto.newest_fernet(), crypto.multifernet()
    report = RotationReport()
    last_id = 0
    while True:
        batch = list(
            Secret.objects.filter(id__gt=last_id)
            .order_by("id")
            .annotate(token=_raw_token())
            .values_list("id", "name", "token")[:batch_size]
        )
        if not batch:
            return report
        with transaction.atomic():
            for secret_id, name, token in batch:
                token = bytes(token)
                try:
                    newest.decrypt(token)
                except InvalidToken:
                    pass
                else:
                    report.current += 1
                    continue
                try:
                    rotated = every_key.rotate(token)
                except InvalidToken:
                    report.failed.append(name)
                    continue
                if not dry_run:
                    _store_token(secret_id=secret_id, expected=token, token=rotated)
                report.rotated += 1
        last_id = batch[-1][0]
        if after_batch is not None:
            after_batch(report)
