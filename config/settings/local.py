"""The embedded default for one machine: `make demo`, development."""

from __future__ import annotations

from config.env import embedded_fernet_keys, env
from config.settings.base import *  # noqa: F403
from config.settings.base import DATA_DIR, FERNET_KEYS


def _local_secret_key() -> str:
    # Generated once per data folder so sessions survive restarts and two
    # installations never share a key.
    from django.core.management.utils import get_random_secret_key

    path = DATA_DIR / "django_secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(get_random_secret_key())
    return path.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _local_secret_key()
DEBUG = env.bool("DJANGO_DEBUG", default=False)
FERNET_KEYS = FERNET_KEYS or embedded_fernet_keys(DATA_DIR)
