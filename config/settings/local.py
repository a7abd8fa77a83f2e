"""The embedded default for one machine: `make demo`, development."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from config.env import embedded_fernet_keys, embedded_secret_key, env
from config.settings.base import *  # noqa: F403
from config.settings.base import DATA_DIR, FERNET_KEYS

# Generated once per data folder on first use, not here: importing the settings
# writes nothing (see config.env.write_once for how concurrent starts agree).
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or SimpleLazyObject(lambda: embedded_secret_key(DATA_DIR))
DEBUG = env.bool("DJANGO_DEBUG", default=False)
FERNET_KEYS = FERNET_KEYS or SimpleLazyObject(lambda: embedded_fernet_keys(DATA_DIR))

# `manage.py runserver` on a fresh checkout must serve pages before anyone has run
# collectstatic: whitenoise serves the apps' static folders directly and the URLs
# need no manifest. Production keeps the hashed, compressed manifest storage.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
