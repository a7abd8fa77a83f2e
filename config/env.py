"""The one door to the environment.

Every setting read from the environment goes through `env`, a django-environ reader
that also accepts `NAME_FILE` (a path whose content is the value) for secrets, and
raises ImproperlyConfigured with the variable's name when a value is malformed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.FileAwareEnv()


def data_dir() -> Path:
    """The folder that holds all local state (database, broker, artifacts, keys).

    Only named here: importing the settings writes nothing, so the folder is made
    where a process starts (`pipelines.apps`) or on first use (`write_once`).
    """
    path = Path(env.str("PIPELINES_DATA_DIR", default=str(BASE_DIR / "var"))).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    return path


def write_once(path: Path, make: Callable[[], bytes]) -> str:
    """The content of `path`, first written with `make()` (mode 0600) if it does not exist.

    The web server and a worker start together on a fresh folder: each writes a whole
    file aside and links it into place, so the first wins, and no one reads a
    half-written (or empty) file or uses a key that another process then overwrites.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            os.write(fd, make())
            os.close(fd)
            with contextlib.suppress(FileExistsError):
                os.link(scratch, path)
        finally:
            os.unlink(scratch)
    return path.read_text()


def fernet_keys() -> list[str]:
    """FERNET_KEYS (comma-separated) or FERNET_KEYS_FILE (one key per line), newest first.

    The first key encrypts, every key decrypts: to rotate, put a new key first, run
    `manage.py rotate_secret_keys`, then drop the old one. Empty when neither is set.
    """
    import re

    from cryptography.fernet import Fernet
    from django.core.exceptions import ImproperlyConfigured

    keys = [key for key in re.split(r"[,\s]+", env.str("FERNET_KEYS", default="")) if key]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            # The key itself stays out of the message: it ends up in logs.
            raise ImproperlyConfigured(
                f"FERNET_KEYS: key #{position} is not a Fernet key (32 url-safe base64-encoded bytes). "
                'Generate one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"'
            ) from None
    return keys


def embedded_fernet_keys(folder: Path) -> list[str]:
    """The embedded default's keys: a key file generated once per data folder (mode 0600),
    in FERNET_KEYS_FILE's format, so a new key can be put on its first line to rotate."""
    from cryptography.fernet import Fernet

    text = write_once(folder / "fernet_keys", lambda: Fernet.generate_key() + b"\n")
    return [line.strip() for line in text.splitlines() if line.strip()]


def embedded_secret_key(folder: Path) -> str:
    """The embedded default's Django SECRET_KEY: generated once per data folder (mode 0600),
    so sessions survive restarts and two installations never share a key."""
    from django.core.management.utils import get_random_secret_key

    return write_once(folder / "django_secret_key", lambda: get_random_secret_key().encode()).strip()
