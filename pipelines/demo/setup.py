"""What the demo prepares before any child process starts: the admin account, the
secret the secrets example reads, and client.json for the SDK."""

from __future__ import annotations

import enum
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from pipelines.sdk.config import CLIENT_CONFIG_FILE
from pipelines.services.tokens import api_token_create

DEMO_TOKEN_NAME = "demo (client.json)"  # noqa: S105  (a label, not a secret)


class PasswordSource(enum.Enum):
    # Only a generated password is ever printed: a given one is already known to
    # whoever set it, and a kept one is not ours to show.
    GENERATED = "generated"
    GIVEN = "given"
    KEPT = "kept"


@dataclass(frozen=True)
class AdminAccount:
    user: AbstractBaseUser
    username: str
    created: bool
    password_source: PasswordSource
    generated_password: str | None = None

    def login_hint(self) -> str:
        if self.password_source is PasswordSource.GENERATED:
            return f"{self.username} / {self.generated_password}"
        if self.password_source is PasswordSource.GIVEN:
            return f"{self.username} (password from PIPELINES_ADMIN_PASSWORD)"
        return f"{self.username} (existing password kept; set PIPELINES_ADMIN_PASSWORD to change it)"


def ensure_admin(*, username: str, password: str | None) -> AdminAccount:
    """Create the superuser, or bring an existing one to superuser with `password` if given."""
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
        if user is None:
            if password:
                user = user_model._default_manager.create_superuser(username=username, email="", password=password)
                return AdminAccount(user, username, True, PasswordSource.GIVEN)
            generated = secrets.token_urlsafe(12)
            user = user_model._default_manager.create_superuser(username=username, email="", password=generated)
            return AdminAccount(user, username, True, PasswordSource.GENERATED, generated)
        if password:
            user.set_password(password)
        user.is_active = user.is_staff = user.is_superuser = True
        user.save()
    return AdminAccount(user, username, False, PasswordSource.GIVEN if password else PasswordSource.KEPT)


# --- The secret examples/secrets_in_steps.py reads ------------------------------------

DEMO_SECRET_NAME = "demo_api"  # noqa: S105  (a name, not a secret)
# Made up: the example hands them to a stand-in API that accepts anything.
DEMO_SECRET_VALUES = {"username": "demo-user", "password": "not-a-real-password"}


def ensure_demo_secret(*, user: AbstractBaseUser) -> bool:
    """Create the secret the secrets example reads, unless it exists, and let `user`
    (whose token runs the examples) read secret values. True when it was created."""
    from django.contrib.auth.models import Permission

    from secrets_app.selectors import secret_by_name
    from secrets_app.services import secret_create

    user.user_permissions.add(  # type: ignore[attr-defined]
        Permission.objects.get(content_type__app_label="secrets_app", codename="view_secret_values")
    )
    if secret_by_name(name=DEMO_SECRET_NAME) is not None:
        return False
    secret_create(
        name=DEMO_SECRET_NAME,
        values=DEMO_SECRET_VALUES,
        description="Made-up credentials for examples/secrets_in_steps.py",
        user=user,
    )
    return True


# --- client.json ------------------------------------------------------------------------


def write_client_config(*, path: Path, server_url: str, api_token: str) -> None:
    """Write client.json for the SDK: owner-only from the first byte, replaced atomically."""
    payload = json.dumps({"server_url": server_url, "api_token": api_token}, indent=2) + "\n"
    # The file holds a live token. Creating a fresh file with mode 0600 (rather than
    # chmod-ing after writing, or reusing an old file whose mode may be looser) means it
    # is never readable by others; the rename means the SDK never reads half a file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            os.fchmod(file.fileno(), 0o600)  # the umask could have narrowed it further
            file.write(payload)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def issue_client_config(*, user: AbstractBaseUser, server_url: str, data_dir: Path) -> Path:
    _, key = api_token_create(user=user, name=DEMO_TOKEN_NAME)
    path = data_dir / CLIENT_CONFIG_FILE
    write_client_config(path=path, server_url=server_url, api_token=key)
    return path
